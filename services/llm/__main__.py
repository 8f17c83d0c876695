"""python -m services.llm: serve aimesh.llm.v1.LlmService."""

from services.common.server import main
from services.llm.server import LlmApp
from services.llm.settings import LlmSettings

if __name__ == "__main__":
    main(LlmSettings, LlmApp)
