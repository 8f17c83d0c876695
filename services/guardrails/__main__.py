"""python -m services.guardrails: serve aimesh.guardrails.v1.GuardrailsService."""

from services.common.server import main
from services.guardrails.server import GuardrailsApp
from services.guardrails.settings import GuardrailsSettings

if __name__ == "__main__":
    main(GuardrailsSettings, GuardrailsApp)
