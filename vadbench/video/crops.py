"""Crop protocols of the community features: centre, 5-crop and 10-crop (VadCLIP / I3D style).

Geometry (VadCLIP's demo ``crop.py``, specs/methods/vadclip.md 3.1): every frame is resized to 340x256
(width x height, bilinear as OpenCV's default ``INTER_LINEAR``), then 224x224 crops are taken:

- index 0: the centre, rows 16:240, cols 58:282;
- indices 1-4: the corners top-left, top-right, bottom-left, bottom-right;
- indices 5-9: the horizontal flips of 0-4.

``5crop`` is indices 0-4, ``center`` index 0. For a model whose input is not 224 px (the tiny test CLIP) the
whole geometry is scaled by ``input_size / 224`` (resize to round(340 s) x round(256 s), crops of input_size).
``full`` (not a community protocol) is the whole frame resized to input_size x input_size, aspect not kept:
the picture the world models were trained on (``vadbench/world/data.py``: frames resized to 56 x 56), where
a centre crop would hide the frame's left and right sixths.

Example:
    >>> resize, boxes = crop_geometry("10crop")
    >>> resize, boxes[0], boxes[4], boxes[5].flip
    ((340, 256), CropBox(top=16, left=58, height=224, width=224, flip=False), CropBox(top=32, left=116, \
height=224, width=224, flip=False), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Number of crops per protocol (the K of feature arrays [T, K, D]).
CROP_COUNTS = {"center": 1, "5crop": 5, "10crop": 10, "full": 1}
#: Resize (width, height) before cropping, and the crop side, at the reference 224 px input size.
BASE_RESIZE = (340, 256)
BASE_CROP = 224


@dataclass(frozen=True)
class CropBox:
    """One crop: the window (top, left, height, width) in the resized frame, then an optional h-flip."""

    top: int
    left: int
    height: int
    width: int
    flip: bool = False


def n_crops(kind: str) -> int:
    """K for a crop protocol name (``center`` 1, ``5crop`` 5, ``10crop`` 10)."""
    if kind not in CROP_COUNTS:
        raise ValueError(f"unknown crop protocol {kind!r}; expected one of {', '.join(CROP_COUNTS)}")
    return CROP_COUNTS[kind]


def crop_geometry(kind: str, input_size: int = BASE_CROP) -> tuple[tuple[int, int], list[CropBox]]:
    """The resize (width, height) and the ordered crop boxes of protocol ``kind`` for ``input_size`` px input.

    Example:
        >>> crop_geometry("center", 64)
        ((97, 73), [CropBox(top=4, left=16, height=64, width=64, flip=False)])
        >>> crop_geometry("full", 56)
        ((56, 56), [CropBox(top=0, left=0, height=56, width=56, flip=False)])
    """
    k = n_crops(kind)
    if kind == "full":
        return (input_size, input_size), [CropBox(0, 0, input_size, input_size)]
    scale = input_size / BASE_CROP
    width, height = round(BASE_RESIZE[0] * scale), round(BASE_RESIZE[1] * scale)
    c = input_size
    windows = [
        ((height - c) // 2, (width - c) // 2),  # centre: [16:240, 58:282] at 340x256
        (0, 0),
        (0, width - c),
        (height - c, 0),
        (height - c, width - c),
    ]
    boxes = [CropBox(t, left, c, c) for t, left in windows]
    boxes += [CropBox(b.top, b.left, b.height, b.width, True) for b in boxes]
    return (width, height), boxes[:k]


def apply_crops(
    frames: Any,
    kind: str,
    input_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    interpolation: str = "bilinear",
    dtype: Any = None,
) -> Any:
    """Frames ``(N, H, W, 3)`` uint8 (a torch tensor, on any device) -> normalised crops ``(N, K, 3, c, c)``.

    The resized frame is rounded back to uint8 values before cropping, as the reference pipeline
    (OpenCV resize -> PIL image -> CLIP transform) does. With ``input_size`` = the crop side, CLIP's own
    resize and centre crop are identities and are skipped.

    Example:
        >>> import torch
        >>> frames = torch.zeros(2, 240, 320, 3, dtype=torch.uint8)
        >>> out = apply_crops(frames, "10crop", 64, (0.5,) * 3, (0.5,) * 3)
        >>> tuple(out.shape), float(out[0, 0, 0, 0, 0])
        ((2, 10, 3, 64, 64), -1.0)
    """
    import torch
    import torch.nn.functional as F

    (width, height), boxes = crop_geometry(kind, input_size)
    x = frames.permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode=interpolation, align_corners=False, antialias=False)
        x = x.round_().clamp_(0, 255)
    x = x.contiguous(memory_format=torch.contiguous_format)
    # normalise the resized frame once (cheaper than the K crops, same values)
    mean_t = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    std_t = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    x = (x - mean_t) / std_t
    crops = []
    for box in boxes:
        crop = x[:, :, box.top : box.top + box.height, box.left : box.left + box.width]
        crops.append(torch.flip(crop, dims=[-1]) if box.flip else crop)
    out = torch.stack(crops, dim=1)  # N, K, 3, c, c
    return out if dtype is None else out.to(dtype)
