"""Built-in plugin: Flickr30k, MSCOCO, CUHK-PEDES (the paper's), Flickr8k, an embedded synthetic set,
and ``captions`` for the user's own CSV/TSV/JSONL file or Hugging Face dataset.

Each reads its authors' distribution format from a local root; nothing is downloaded.
"""

from __future__ import annotations

import itr_bench
from itr_bench import lazy

# Each dataset's module is imported when the dataset is first built, not when it is registered.
Captions = lazy(".captions:Captions", __name__)
CuhkPedes = lazy(".cuhk_pedes:CuhkPedes", __name__)
Flickr8k = lazy(".flickr8k:Flickr8k", __name__)
Flickr30k = lazy(".flickr30k:Flickr30k", __name__)
MSCOCO = lazy(".mscoco:MSCOCO", __name__)
Synthetic = lazy(".synthetic:Synthetic", __name__)


@itr_bench.hookimpl
def register_datasets(register):
    register("flickr8k", Flickr8k, description="Flickr8k: 6000/1000/1000 images, 5 captions each")
    register(
        "flickr30k", Flickr30k, description="Flickr30k: the paper's split (Flickr8k val/test) or Karpathy's"
    )
    register(
        "mscoco", MSCOCO, description="MS-COCO captions: Karpathy, the paper's seeded or by-file split; 1K/5K"
    )
    register(
        "cuhk-pedes", CuhkPedes, description="CUHK-PEDES person search from reid_raw.json; identity protocol"
    )
    register(
        "captions",
        Captions,
        description="Your own captions: CSV/TSV (open_clip columns), JSONL or a Hugging Face dataset",
    )
    register(
        "synthetic", Synthetic, description="Embedded: coloured shapes in spatial relations, no files needed"
    )
    register(
        "synthetic-identity",
        lazy(".synthetic:synthetic_identity", __name__),
        description="Embedded identity variant: 4 jittered renderings per scene, matched by identity",
    )
