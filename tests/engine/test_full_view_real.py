"""The paper's test features on real COCO images of several shapes: the whole image with its
aspect (batched by shape), dense-summed over positions plus the flip, each row in split order."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from itr_bench.api import EncoderContext
from itr_bench.data.prepare import prepare
from itr_bench.data.subset import HeadSubset
from itr_bench.engine.evaluate import embed_split
from itr_bench.engine.model import RetrievalModel
from itr_bench.feed.cached import CachedSplit
from itr_bench.feed.feeding import CaptionTokens
from itr_bench.feed.transforms import build_transform

SIZE = 32


@pytest.mark.slow
def test_full_view_rows_match_each_image_embedded_alone(registry, shared_datasets, tmp_path):
    coco = registry.create("dataset", "mscoco", shared_datasets / "coco-mini", split="by-file", val_size=8)
    dataset = HeadSubset(coco, 24)  # original resolutions (the shared Flickr8k copy is all 224x224)
    split = prepare(dataset, tmp_path, SIZE, progress=False).split("test")
    captions = [c for cs in split.table["captions"] for c in cs]
    context = EncoderContext(train_captions=captions, text=dataset.text)
    torch.manual_seed(0)
    image = registry.create("image_encoder", "dualpath-image", context, backbone="resnet10t", width=1 / 16)
    text = registry.create("text_encoder", "dualpath-textcnn", context, width=1 / 16, blocks=[1, 1, 1, 1],
                           word2vec=None)
    model = RetrievalModel(image, text, {}).eval()
    tokens = CaptionTokens.build([captions[:1]], text.tokenizer)  # one caption: the images are under test
    images, _ = embed_split(model, split, tokens, image_size=SIZE, batch_size=5, device=torch.device("cpu"),
                            tta=True, transform="test-full")
    view = CachedSplit(split, build_transform("test-full", SIZE))
    shapes = {tuple(view[i]["image"].shape) for i in range(len(split))}
    assert len(shapes) > 1 and all(min(s[1:]) == SIZE for s in shapes)  # several aspects, none cropped
    with torch.no_grad():
        alone = torch.cat([image.test_time_embedding(view[i]["image"][None]) for i in range(len(split))])
    torch.testing.assert_close(images, F.normalize(alone, dim=-1), atol=1e-5, rtol=1e-4)
