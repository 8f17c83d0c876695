"""python -m services.edge: serve aimesh.edge.v1.EdgeService."""

from services.common.server import main
from services.edge.server import EdgeApp
from services.edge.settings import EdgeSettings

if __name__ == "__main__":
    main(EdgeSettings, EdgeApp)
