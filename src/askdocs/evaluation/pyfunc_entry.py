"""The file MLflow runs to rebuild the askdocs pyfunc model (MLflow's "models from code")."""

from mlflow.models import set_model

from askdocs.evaluation.serving import AskdocsModel

set_model(AskdocsModel())
