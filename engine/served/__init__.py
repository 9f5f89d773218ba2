"""What a run answers with: the artifact layout (layout.py), the fine-tuned transformer (transformer.py), the
scikit-learn partner (partner.py) and the one contract over them, ServedModel (model.py)."""
from engine.served.model import KINDS, ServedModel

__all__ = ["KINDS", "ServedModel"]
