r"""pyg_proda: ProDA (prompt-guided disentangled representation for
multi-label action recognition) on spatio-temporal scene graphs, as a
PyTorch Geometric extension."""
__version__ = '0.1.0'
