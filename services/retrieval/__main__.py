"""python -m services.retrieval: serve aimesh.retrieval.v1.RetrievalService."""

from services.common.server import main
from services.retrieval.server import RetrievalApp
from services.retrieval.settings import RetrievalSettings

if __name__ == "__main__":
    main(RetrievalSettings, RetrievalApp)
