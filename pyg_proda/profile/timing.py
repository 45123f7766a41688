r"""Wall time of training steps, timed in interleaved rounds so that a
drift in the machine's speed shifts every step alike, and the fit of a
step's time to its size."""
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

#: The timer of :func:`time_rounds` (replaceable in tests).
_clock = time.perf_counter


def synchronize(device: torch.device) -> None:
    r"""Waits for the work queued on :obj:`device` (CUDA); a no-op on
    CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_rounds(steps: Sequence[Callable[[], None]], device: torch.device,
                repeats: int = 5, warmup: int = 1, budget_s: float = 60.0,
                rewarm: bool = True,
                min_block_s: float = 0.0) -> List[List[float]]:
    r"""Wall time per run of every step of :obj:`steps` in seconds, one
    sample per round (:obj:`repeats` rounds after :obj:`warmup`), timed in
    rounds so that a machine whose speed drifts (a shared VM, frequency
    scaling) shifts every step alike instead of the ones timed in its slow
    minutes.

    In every round a step first runs once untimed (:obj:`rewarm`): a small
    step timed right after a large one would otherwise pay for caches and
    heap the large one left cold, which consecutive training steps of one
    size do not. It is then timed over a *block* of consecutive runs, the
    sample being their mean: as many runs as take :obj:`min_block_s` in
    the first round (at least one), the same number in every later round.
    A millisecond step then averages over as much of the machine's noise
    as a step of a second does, and is measured warm as in a training
    loop, instead of one run right after another size. A step stops taking
    part (after at least one timed round) once its timed runs have used
    :obj:`budget_s`.

    Args:
        steps (Sequence[Callable]): The steps, each run without arguments.
        device (torch.device): Where they run (synchronised after each).
        repeats (int, optional): Timed rounds. (default: :obj:`5`)
        warmup (int, optional): Untimed rounds first. (default: :obj:`1`)
        budget_s (float, optional): Seconds of timed runs a step may use.
            (default: :obj:`60.0`)
        rewarm (bool, optional): Run a step once untimed before its block
            in every round. (default: :obj:`True`)
        min_block_s (float, optional): Seconds of consecutive runs per
            sample, set in the first round. (default: :obj:`0.0`)

    Example:
        >>> rounds = time_rounds([lambda: None], torch.device('cpu'),
        ...                      repeats=3)
        >>> len(rounds), len(rounds[0])
        (1, 3)
    """
    for _ in range(warmup):
        for step in steps:
            step()
    synchronize(device)
    times: List[List[float]] = [[] for _ in steps]
    blocks: List[Optional[int]] = [None for _ in steps]
    spent = [0.0 for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            if times[i] and spent[i] > budget_s:
                continue
            if rewarm:
                step()
                synchronize(device)
            runs = 0
            t0 = _clock()
            while True:
                step()
                synchronize(device)
                runs += 1
                elapsed = _clock() - t0
                if (runs == blocks[i] or
                        (blocks[i] is None and elapsed >= min_block_s)):
                    break
            blocks[i] = runs
            spent[i] += elapsed
            times[i].append(elapsed / runs)
    return times


def time_interleaved(steps: Sequence[Callable[[], None]],
                     device: torch.device, repeats: int = 5,
                     warmup: int = 1, budget_s: float = 60.0,
                     rewarm: bool = True,
                     min_block_s: float = 0.0) -> List[float]:
    r"""Median over the rounds of :func:`time_rounds` of every step (same
    arguments)."""
    return [statistics.median(t) for t in time_rounds(
        steps, device, repeats, warmup, budget_s, rewarm, min_block_s)]


def time_step(step: Callable[[], None], device: torch.device,
              repeats: int = 5, warmup: int = 1,
              budget_s: float = 60.0) -> float:
    r"""Median wall time of :obj:`step` in seconds over :obj:`repeats` runs
    after :obj:`warmup` runs; stops early (at least one run) once
    :obj:`budget_s` is spent."""
    return time_interleaved([step], device, repeats, warmup, budget_s,
                            rewarm=False)[0]


def fit_cost(points: Sequence[Dict], key: str = 'sparse_s'
             ) -> Tuple[float, float]:
    r"""Least-squares fit ``time = fixed + marginal * edges`` of the times
    :obj:`key` of :obj:`points` (dicts with an ``'edges'`` entry) with
    relative residuals, so that every point weighs the same.

    Returns:
        ``(fixed [s], marginal [s per edge])``.

    Example:
        >>> points = [{'edges': e, 'sparse_s': 0.5 + 2 * e} for e in (1, 4)]
        >>> [round(v, 6) for v in fit_cost(points)]
        [0.5, 2.0]
    """
    t = torch.tensor([p[key] for p in points], dtype=torch.float64)
    e = torch.tensor([p['edges'] for p in points], dtype=torch.float64)
    A = torch.stack([1 / t, e / t], dim=1)
    sol = torch.linalg.lstsq(A, torch.ones_like(t).unsqueeze(1)).solution
    return float(sol[0]), float(sol[1])
