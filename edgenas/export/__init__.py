"""Deployment artefacts (ONNX now; int8 TFLite and C arrays build on it)."""
