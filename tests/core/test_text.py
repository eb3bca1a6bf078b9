"""The paper's word tokenisation, the training-split vocabulary and the text shift."""

import torch

from itr_bench.api import TextSpec
from itr_bench.data.text import PAD_ID, Vocabulary, WordTokenizer, random_shift, split_words

FLICKR = TextSpec()
COCO = TextSpec(separators=" -.,()?")


def test_split_rules_follow_the_official_code():
    # strsplit on '- space . , ( )'; '?' only for COCO; case kept
    assert split_words("A black-and-white dog (small), runs.", FLICKR) == [
        "A", "black", "and", "white", "dog", "small", "runs"
    ]
    assert split_words("Is it a cat?", FLICKR) == ["Is", "it", "a", "cat?"]
    assert split_words("Is it a cat?", COCO) == ["Is", "it", "a", "cat"]
    assert split_words("  tabs\tand  spaces ", FLICKR) == ["tabs", "and", "spaces"]
    assert split_words("Dog", TextSpec(lowercase=True)) == ["dog"]


def test_vocabulary_from_training_captions_only_most_frequent_first():
    vocab = Vocabulary.build(["a dog", "a cat", "a dog"], FLICKR)
    assert vocab.words == ("a", "dog", "cat") and vocab.counts == (3, 2, 1)
    assert len(vocab) == 4 and vocab.index["a"] == 1  # 0 is padding
    assert Vocabulary.build(["a dog", "a cat"], FLICKR, min_count=2).words == ("a",)


def test_tokenizer_drops_unknown_words_and_truncates_kept_words():
    tokenizer = WordTokenizer(Vocabulary.build(["w1 w2 w3"], FLICKR), TextSpec(max_words=2))
    ids = tokenizer(["zz w3 zz w1 w2", "", "zz"])
    assert ids.shape == (3, 2) and ids.dtype == torch.long
    # unknown words are dropped before truncation: the two kept words are w3, w1
    assert ids[0].tolist() == [tokenizer.vocabulary.index["w3"], tokenizer.vocabulary.index["w1"]]
    assert ids[1].tolist() == [PAD_ID, PAD_ID] and ids[2].tolist() == [PAD_ID, PAD_ID]


def test_random_shift_keeps_each_sentence_whole_and_in_order():
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]])
    starts = set()
    for _ in range(200):
        shifted = random_shift(ids, generator)
        assert shifted[1].tolist() == ids[1].tolist()  # a full sentence cannot move
        assert shifted[2].tolist() == [0] * 6
        nonzero = shifted[0][shifted[0] != 0].tolist()
        assert nonzero == [5, 6, 7]
        start = int((shifted[0] != 0).nonzero()[0])
        assert shifted[0, start:start + 3].tolist() == [5, 6, 7]
        starts.add(start)
    assert starts == {0, 1, 2, 3}  # every fitting start position is drawn
