"""python -m services.retrieval: serve aimesh.retrieval.v1.RetrievalService."""

import os

# OpenBLAS spinning threads fight each other and every other process on a small
# shared machine (10x slower measured on 2 cores); the embedder runs one batch at
# a time anyway. Set OPENBLAS_NUM_THREADS explicitly to use more cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from services.common.server import main
from services.retrieval.server import RetrievalApp
from services.retrieval.settings import RetrievalSettings

if __name__ == "__main__":
    main(RetrievalSettings, RetrievalApp)
