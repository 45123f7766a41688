r"""Episodic training with Lightning: :class:`FewShotModule`,
:class:`FewShotDataModule` and the LightningCLI entry point
``python -m pyg_proda.fewshot fit --config configs/fewshot.yaml``."""
from typing import Dict, List, Optional, Sequence, Tuple

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from torchmetrics import MeanMetric

from pyg_proda.fewshot.data import FrameFeatureDataset, find_cache
from pyg_proda.fewshot.episodes import EpisodeBatch, EpisodeDataset
from pyg_proda.fewshot.evaluate import mean_ci
from pyg_proda.fewshot.models import HEADS, build_head, head_forward
from pyg_proda.fewshot.sampler import EpisodeSampler
from pyg_proda.fewshot.synthetic import SyntheticFewShot


class FewShotModule(L.LightningModule):
    r"""Trains a few-shot head on episodes.

    The loss of a batch of episodes is the cross-entropy of every query,
    averaged, plus :obj:`motion_weight` times the HSMR loss; Lightning's
    ``accumulate_grad_batches`` accumulates over batches (the authors
    accumulate 16 single episodes; ``episodes_per_batch`` of the data
    module stacks episodes into one forward pass, which is equivalent up
    to the scale of the loss). Validation logs ``val/acc``, the mean
    episode accuracy on the validation classes, to select checkpoints;
    test logs ``test/acc`` and its 95 % half-width ``test/ci``.

    Args:
        head (str): One of :data:`~pyg_proda.fewshot.models.HEADS`.
            (default: :obj:`'clip_spm'`)
        channels (int): Frame feature size :math:`D` (linked from the data
            module by the CLI). (default: :obj:`512`)
        num_frames (int): :math:`T`. (default: :obj:`8`)
        text_channels (int, optional): Size of the class text features if
            it differs from :obj:`channels` (a linear map is learned).
            (default: :obj:`None`)
        heads, head_channels, ff_channels, attn_dropout, ff_dropout, alpha,
            text_ratio, vision_ratio, negative_slope, lbda, use_hsmr,
            use_spm, use_padm, transductive, anchor_term, adapter: See
            :class:`~pyg_proda.fewshot.models.CLIPSPM`.
        trx_channels (int): Key/value size of TRX. (default: :obj:`1152`)
        trx_cardinalities (list of int): TRX tuple sizes.
            (default: :obj:`(2, 3)`)
        project (bool): Learned frame embedding of ProtoNet and OTAM.
            (default: :obj:`True`)
        motion_weight (float): Weight of the HSMR loss.
            (default: :obj:`1e-3`)
        learn_motion_scale (bool): Multiply the HSMR loss by a learnable
            scalar initialised to 1, as the authors' code. Off by default:
            minimising a positive loss times a free scalar drives the scalar
            below zero at the learning rates used on frozen features.
            (default: :obj:`False`)
        lr (float): Adam learning rate. (default: :obj:`1e-5`, the
            authors')
        betas (tuple): Adam betas. (default: :obj:`(0.5, 0.999)`)
        weight_decay (float): (default: :obj:`5e-5`)
        encoder (dict, optional): Arguments of
            :class:`~pyg_proda.fewshot.ssg.SSGFrameEncoder` to learn frame
            features from scene graphs (the batches then carry graphs).
            (default: :obj:`None`)

    Raises:
        ValueError: for an unknown head.

    Example:
        >>> dm = FewShotDataModule(synthetic=dict(num_classes=(8, 8, 8),
        ...                                       videos_per_class=10))
        >>> model = FewShotModule('protonet', channels=dm.channels)
        >>> logits, aux = model(next(iter(dm.val_dataloader())))
        >>> logits.shape  # 50 episodes, 5 queries, 5 ways
        torch.Size([50, 5, 5])
    """
    def __init__(
        self,
        head: str = 'clip_spm',
        channels: int = 512,
        num_frames: int = 8,
        text_channels: Optional[int] = None,
        heads: int = 8,
        head_channels: int = 256,
        ff_channels: int = 2048,
        attn_dropout: float = 0.2,
        ff_dropout: float = 0.05,
        alpha: float = 0.2,
        text_ratio: float = 1.5,
        vision_ratio: float = 0.5,
        negative_slope: float = 0.0025,
        lbda: float = 0.5,
        use_hsmr: bool = True,
        use_spm: bool = True,
        use_padm: bool = True,
        transductive: bool = False,
        anchor_term: bool = True,
        adapter: bool = False,
        trx_channels: int = 1152,
        trx_cardinalities: Sequence[int] = (2, 3),
        project: bool = True,
        motion_weight: float = 1e-3,
        learn_motion_scale: bool = False,
        lr: float = 1e-5,
        betas: Tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 5e-5,
        encoder: Optional[Dict] = None,
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"Unknown head '{head}' (expected one of "
                             f"{list(HEADS)})")
        self.save_hyperparameters()
        self.head = build_head(
            head, channels, num_frames, heads=heads,
            head_channels=head_channels, ff_channels=ff_channels,
            attn_dropout=attn_dropout, ff_dropout=ff_dropout, alpha=alpha,
            text_ratio=text_ratio, vision_ratio=vision_ratio,
            negative_slope=negative_slope, lbda=lbda, use_hsmr=use_hsmr,
            use_spm=use_spm, use_padm=use_padm, transductive=transductive,
            anchor_term=anchor_term, adapter=adapter,
            out_channels=trx_channels, cardinalities=trx_cardinalities,
            project=project)
        self.text_lin = (torch.nn.Linear(text_channels, channels)
                         if text_channels not in (None, channels) else None)
        self.motion_scale = torch.nn.Parameter(
            torch.ones(()), requires_grad=learn_motion_scale)
        self.encoder = None
        if encoder is not None:
            from pyg_proda.fewshot.ssg import SSGFrameEncoder
            enc = dict(encoder)
            enc.setdefault('channels', channels)
            enc.setdefault('num_frames', num_frames)
            self.encoder = SSGFrameEncoder(**enc)
        self.val_acc = MeanMetric()
        self._test_acc: List[Tensor] = []

    # --- forward ---------------------------------------------------------
    def features(self, batch: EpisodeBatch) -> Tuple[Tensor, Tensor]:
        r"""Support and query frame features ``[E, S, T, D]``,
        ``[E, Q, T, D]`` of a batch (encoded from graphs if it has them)."""
        if batch.support_graphs is None:
            return batch.support, batch.query
        if self.encoder is None:
            raise ValueError("The batch carries scene graphs but the module "
                             "has no 'encoder'")
        E = batch.num_episodes
        su = self.encoder(batch.support_graphs)  # [E * S, T, D]
        qu = self.encoder(batch.query_graphs)
        return (su.view(E, -1, *su.shape[1:]),
                qu.view(E, -1, *qu.shape[1:]))

    def forward(self, batch: EpisodeBatch) -> Tuple[Tensor, Tensor]:
        r"""Logits ``[E, Q, N]`` and the auxiliary loss. Reads supports,
        their labels, queries and the class text, never the query
        labels."""
        support, query = self.features(batch)
        text = batch.class_text
        if self.text_lin is not None:
            text = self.text_lin(text)
        return head_forward(self.head, support, batch.support_labels, query,
                            text)

    @torch.no_grad()
    def predict_logits(self, batch: EpisodeBatch) -> Tensor:
        r"""Logits of a batch in evaluation mode, on the module's device."""
        self.eval()
        batch = self.transfer_batch_to_device(batch, self.device, 0)
        return self(batch)[0]

    # --- steps -----------------------------------------------------------
    def training_step(self, batch: EpisodeBatch, batch_idx: int) -> Tensor:
        logits, aux = self(batch)
        ce = F.cross_entropy(logits.flatten(0, 1),
                             batch.query_labels.flatten())
        loss = ce + self.hparams.motion_weight * self.motion_scale * aux
        acc = (logits.argmax(-1) == batch.query_labels).float().mean()
        E = batch.num_episodes
        self.log('train/loss', loss, batch_size=E, prog_bar=True)
        self.log('train/ce', ce, batch_size=E)
        self.log('train/motion', aux, batch_size=E)
        self.log('train/acc', acc * 100, batch_size=E, prog_bar=True)
        return loss

    def _episode_acc(self, batch: EpisodeBatch) -> Tensor:
        labels = batch.query_labels
        logits, _ = self(batch)
        return (logits.argmax(-1) == labels).float().mean(1)  # [E]

    def validation_step(self, batch: EpisodeBatch, batch_idx: int) -> None:
        acc = self._episode_acc(batch)
        self.val_acc.update(acc * 100)
        self.log('val/acc', self.val_acc, on_epoch=True, on_step=False,
                 prog_bar=True, batch_size=acc.numel())

    def test_step(self, batch: EpisodeBatch, batch_idx: int) -> None:
        self._test_acc.append(self._episode_acc(batch).detach().cpu())

    def on_test_epoch_start(self) -> None:
        self._test_acc = []

    def on_test_epoch_end(self) -> None:
        if not self._test_acc:
            return
        acc, ci = mean_ci(torch.cat(self._test_acc))
        self.log('test/acc', acc)
        self.log('test/ci', ci)
        self.log('test/episodes', float(sum(a.numel()
                                            for a in self._test_acc)))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.hparams.lr,
                                betas=tuple(self.hparams.betas),
                                weight_decay=self.hparams.weight_decay)


class FewShotDataModule(L.LightningDataModule):
    r"""Episodes of a frame-feature cache or of the embedded synthetic
    benchmark.

    Args:
        root (str, optional): Folder with ``train``/``val``/``test`` feature
            caches (``.h5``, ``.hdf5`` or ``.npz``, see
            :func:`~pyg_proda.fewshot.find_cache`); :obj:`None` for the
            embedded :class:`~pyg_proda.fewshot.SyntheticFewShot`.
            (default: :obj:`None`)
        split_lists (dict, optional): Split list per split restricting the
            caches (see :class:`~pyg_proda.fewshot.FrameFeatureDataset`).
            (default: :obj:`None`)
        way (int): :math:`N`. (default: :obj:`5`)
        shot (int): :math:`K` of the test episodes (and of training and
            validation unless :obj:`train_shots` is given).
            (default: :obj:`1`)
        train_shots (list of int, optional): Train (and validate) on
            batches alternating between these :math:`K`, e.g. ``[1, 5]``
            for one model for both settings. (default: :obj:`None`)
        train_query (int): Queries per class in training.
            (default: :obj:`4`)
        test_query (int): Queries per class at validation and test.
            (default: :obj:`1`)
        train_episodes (int): Training episodes in all (one pass, split
            evenly over :obj:`train_shots`). (default: :obj:`20000`)
        val_episodes (int): Fixed validation episodes per shot.
            (default: :obj:`500`)
        test_episodes (int): Fixed test episodes. (default: :obj:`10000`)
        episodes_per_batch (int): Episodes stacked per training batch.
            (default: :obj:`1`)
        eval_episodes_per_batch (int): Episodes per evaluation batch.
            (default: :obj:`50`)
        seed (int): Seed of the training episodes. (default: :obj:`6`)
        eval_seed (int): Seed of the validation and test episodes.
            (default: :obj:`0`)
        shuffle_text (bool): Give every class the text feature of another
            class of its split (a fixed permutation; the shuffled-text
            ablation). (default: :obj:`False`)
        synthetic (dict, optional): Arguments of
            :class:`~pyg_proda.fewshot.SyntheticFewShot` when :obj:`root`
            is :obj:`None`. (default: :obj:`None`)

    Raises:
        ValueError: if the splits' frame counts or feature sizes disagree
            (naming the files), or a split has classes with fewer than
            ``shot + query`` videos (naming the file and classes).

    Example:
        >>> dm = FewShotDataModule(train_shots=[1, 5], episodes_per_batch=4,
        ...                        synthetic=dict(num_classes=(8, 8, 8),
        ...                                       videos_per_class=10))
        >>> batches = iter(dm.train_dataloader())  # 1-shot, 5-shot, ...
        >>> [tuple(next(batches).support.shape) for _ in range(2)]
        [(4, 5, 8, 32), (4, 25, 8, 32)]
    """
    def __init__(self, root: Optional[str] = None,
                 split_lists: Optional[Dict[str, str]] = None, way: int = 5,
                 shot: int = 1, train_shots: Optional[List[int]] = None,
                 train_query: int = 4, test_query: int = 1,
                 train_episodes: int = 20000, val_episodes: int = 500,
                 test_episodes: int = 10000, episodes_per_batch: int = 1,
                 eval_episodes_per_batch: int = 50, seed: int = 6,
                 eval_seed: int = 0, shuffle_text: bool = False,
                 synthetic: Optional[Dict] = None):
        super().__init__()
        self.save_hyperparameters()
        self.root = root
        self.split_lists = dict(split_lists or {})
        self.way, self.shot = way, shot
        self.train_shots = [int(k) for k in (train_shots or [shot])]
        self.train_query, self.test_query = train_query, test_query
        self.train_episodes = train_episodes
        self.val_episodes, self.test_episodes = val_episodes, test_episodes
        self.episodes_per_batch = episodes_per_batch
        self.eval_episodes_per_batch = eval_episodes_per_batch
        self.seed, self.eval_seed = seed, eval_seed
        self.shuffle_text = shuffle_text
        self.synthetic = dict(synthetic or {})
        self._splits: Optional[Dict[str, FrameFeatureDataset]] = None
        self.order_pairs: Dict[str, List[Tuple[int, int]]] = {}

    @property
    def splits(self) -> Dict[str, FrameFeatureDataset]:
        r"""The ``train``/``val``/``test`` datasets (loaded on first use)."""
        if self._splits is None:
            self._splits = self._load()
        return self._splits

    def _load(self) -> Dict[str, FrameFeatureDataset]:
        if self.root is None:
            bench = SyntheticFewShot(**self.synthetic)
            self.order_pairs = bench.order_pairs
            splits = dict(bench.splits)
        else:
            splits = {s: FrameFeatureDataset(find_cache(self.root, s),
                                             self.split_lists.get(s))
                      for s in ('train', 'val', 'test')}
        ref = splits['train']
        for name, ds in splits.items():
            if (ds.num_frames, ds.dim) != (ref.num_frames, ref.dim):
                raise ValueError(
                    f"Feature caches disagree: '{ds.path}' ({name}) has "
                    f"{ds.num_frames} frames of size {ds.dim}, "
                    f"'{ref.path}' (train) {ref.num_frames} of size "
                    f"{ref.dim}")
        return splits

    @property
    def channels(self) -> int:
        r"""Feature size :math:`D`."""
        return self.splits['train'].dim

    @property
    def num_frames(self) -> int:
        r"""Frames per video :math:`T`."""
        return self.splits['train'].num_frames

    def text_features(self, split: str) -> Tensor:
        r"""The class text of :obj:`split` (permuted when
        :obj:`shuffle_text`)."""
        text = self.splits[split].text_features
        if not self.shuffle_text:
            return text
        gen = torch.Generator().manual_seed(self.seed)
        C = text.size(0)
        # A random cyclic derangement: no class keeps its own text.
        order = torch.randperm(C, generator=gen)
        perm = torch.empty(C, dtype=torch.long)
        perm[order] = order.roll(-1)
        return text[perm]

    def episodes(self, split: str, query: int, num: int, seed: int,
                 per_batch: int, shots: Optional[Sequence[int]] = None
                 ) -> EpisodeDataset:
        r"""An :class:`EpisodeDataset` of :obj:`split` (``num`` episodes per
        shot of :obj:`shots`, default :obj:`shot`)."""
        ds = self.splits[split]
        samplers = [EpisodeSampler(ds.labels, self.way, k, query, num,
                                   seed + 7919 * i,
                                   num_classes=ds.num_classes,
                                   class_names=ds.class_names,
                                   source=ds.path)
                    for i, k in enumerate(shots or [self.shot])]
        return EpisodeDataset(ds, samplers, per_batch,
                              self.text_features(split),
                              collate=getattr(ds, 'collate', None))

    def _loader(self, data: EpisodeDataset) -> DataLoader:
        return DataLoader(data, batch_size=None, shuffle=False,
                          num_workers=0)

    def train_dataloader(self) -> DataLoader:
        per_shot = self.train_episodes // len(self.train_shots)
        return self._loader(self.episodes('train', self.train_query,
                                          per_shot, self.seed,
                                          self.episodes_per_batch,
                                          self.train_shots))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.episodes('val', self.test_query,
                                          self.val_episodes, self.eval_seed,
                                          self.eval_episodes_per_batch,
                                          self.train_shots))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.episodes('test', self.test_query,
                                          self.test_episodes, self.eval_seed,
                                          self.eval_episodes_per_batch))


__all__ = ['FewShotDataModule', 'FewShotModule']
