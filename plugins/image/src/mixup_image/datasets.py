"""Raw readers of image data: IDX files (Fashion-MNIST) and the header check and decoder of ``image:folder``.

- `read_idx`: an IDX file (the MNIST format), gzip-compressed or not, as a NumPy array.
- `read_header`: a cheap check of one file with PIL (format, size, mode; PNG chunks are CRC-checked),
  which `mixup_core.data.scan_files` runs on every file before anything trains.
- `decode_image_file`: one file as a ``uint8`` tensor ``(C, H, W)`` with 1 (grey) or 3 (RGB)
  channels, decoded by ``torchvision.io.decode_image`` (PNG, JPEG, GIF, WebP) with PIL as the fallback
  for the other formats (BMP, TIFF …); EXIF orientation is applied, 16-bit images are scaled to 8 bits
  and animated files give their first frame.
- `fit_image`: resize and crop a decoded image to the data set's size (random crop for training,
  centre crop for testing), still ``uint8``.

torchvision and pillow come with ``pip install "mixup-image[folder]"``; without them these functions
raise an `ImportError` that gives that command.

Examples:
    >>> import tempfile, numpy as np                               # doctest: +SKIP
    >>> from PIL import Image                                      # doctest: +SKIP
    >>> f = tempfile.mkdtemp() + "/a.png"                          # doctest: +SKIP
    >>> Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(f)    # doctest: +SKIP
    >>> read_header(f)                                             # doctest: +SKIP
    ImageHeader(width=6, height=4, mode='RGB', format='PNG')
    >>> decode_image_file(f, channels=1).shape                     # doctest: +SKIP
    torch.Size([1, 4, 6])
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from numpy.typing import DTypeLike

from mixup_core import ConfigError
from mixup_core.data import DataNotFoundError

__all__ = [
    "CIFAR_FOLDERS",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_INSTALL",
    "FOLDER_INSTALL",
    "GREY_MODES",
    "IMAGE_EXTENSIONS",
    "ImageHeader",
    "decode_image_file",
    "fit_image",
    "read_cifar",
    "read_header",
    "read_idx",
    "require_image_io",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""The file suffixes of ``image:folder`` (case-insensitive)."""

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
"""PIL modes of single-channel (grey) images, with or without alpha; ``channels: auto`` reads them."""

FOLDER_INSTALL = 'pip install "mixup-image[folder]"'
"""The command that installs what decoding image files needs (torchvision and pillow)."""

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where the Debian package ``dataset-fashion-mnist`` installs the four IDX files."""

FASHION_MNIST_INSTALL = "apt-get install -y dataset-fashion-mnist"
"""The command (as root, after ``apt-get update``) that installs Fashion-MNIST on Debian and Ubuntu."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Class names of Fashion-MNIST in label order."""

DIGITS_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""Class names of scikit-learn's digits, ``"0"`` … ``"9"``."""

_IDX_DTYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TORCHVISION_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_EXIF_FORMATS = frozenset({"JPEG", "MPO", "TIFF", "WEBP"})


def require_image_io() -> None:
    """Import torchvision and pillow, or raise an `ImportError` that gives the install command.

    Raises:
        ImportError: torchvision or pillow is missing (the message gives `FOLDER_INSTALL`).

    Examples:
        >>> require_image_io()  # doctest: +SKIP
    """
    try:
        import PIL.Image  # noqa: F401
        import torchvision.io  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"reading image files needs torchvision and pillow: {FOLDER_INSTALL} ({exc})") from exc


@dataclass(frozen=True)
class ImageHeader:
    """What the header of an image file says, without decoding its pixels.

    Args:
        width: the width as displayed (after the EXIF orientation).
        height: the height as displayed.
        mode: the PIL mode (``"RGB"``, ``"L"``, ``"I;16"``, ``"P"`` …).
        format: the PIL format name (``"PNG"``, ``"JPEG"`` …).
    """

    width: int
    height: int
    mode: str
    format: str

    @property
    def grey(self) -> bool:
        """Whether the file holds one channel (with or without alpha); see `GREY_MODES`."""
        return self.mode in GREY_MODES


def read_header(path: str | os.PathLike[str]) -> ImageHeader:
    """Open ``path`` with PIL and check it without decoding the pixels (PIL's ``verify``).

    ``verify`` checks the chunk CRCs of a PNG; for JPEG and most other formats it checks the header
    only, so a truncated JPEG passes (decode every file to catch those, as ``verify: decode`` of
    ``image:folder`` does).

    Args:
        path: the image file.

    Returns:
        The `ImageHeader` (size as displayed, after the EXIF orientation of JPEG, TIFF and WebP files).

    Raises:
        OSError: the file is not an image PIL can identify (``PIL.UnidentifiedImageError``), or is corrupt.
        SyntaxError: PIL's ``verify`` found a broken chunk.
        ImportError: pillow is missing.

    Examples:
        >>> read_header("photo.png")  # doctest: +SKIP
        ImageHeader(width=640, height=480, mode='RGB', format='PNG')
    """
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(f"reading image files needs pillow: {FOLDER_INSTALL}") from exc
    with Image.open(path) as im:
        width, height = im.size
        mode, fmt = im.mode, str(im.format)
        im.verify()
    if fmt in _EXIF_FORMATS:  # their EXIF block is read with the header (a PNG's would need a full load)
        with Image.open(path) as im:
            try:
                orientation = im.getexif().get(_EXIF_ORIENTATION)
            except Exception:  # a broken EXIF block does not stop the decoders; ignore it here too
                orientation = None
        if orientation in _TRANSPOSED:
            width, height = height, width
    return ImageHeader(int(width), int(height), mode, fmt)


def decode_image_file(path: str | os.PathLike[str], channels: int) -> torch.Tensor:
    """Decode one image file to a ``uint8`` tensor ``(channels, H, W)``.

    PNG, JPEG, GIF and WebP go through ``torchvision.io.decode_image`` (libpng, libjpeg-turbo,
    libwebp); other formats (BMP, TIFF …), and files torchvision refuses, through PIL. EXIF
    orientation is applied, animated files give their first frame, 16-bit images keep their top 8
    bits, alpha is dropped, and the image is converted to grey or RGB as asked. (torchvision 0.29
    deprecates its image decoding in favour of TorchCodec; where it is gone, PIL decodes every format.)

    Args:
        path: the image file.
        channels: 1 (grey) or 3 (RGB).

    Returns:
        A contiguous ``uint8`` tensor ``(channels, H, W)``.

    Raises:
        ValueError: ``channels`` is not 1 or 3.
        ImportError: torchvision or pillow is missing (the message gives the install command).
        OSError: neither decoder can read the file.

    Examples:
        >>> decode_image_file("scan.tif", channels=1).dtype  # doctest: +SKIP
        torch.uint8
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    require_image_io()
    path = Path(path)
    image = None
    if path.suffix.lower() in _TORCHVISION_SUFFIXES:
        try:
            image = _decode_torchvision(path, channels)
        except (RuntimeError, ValueError):  # a variant torchvision does not read, a misnamed or empty file: PIL
            image = None
    if image is None:
        image = _decode_pil(path, channels)
    return _to_channels(image, channels).contiguous()


def _decode_torchvision(path: Path, channels: int) -> torch.Tensor | None:
    try:
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:  # a torchvision without image decoding (deprecated since 0.29): PIL decodes everything
        return None
    # GIF and WebP decode to RGB whatever the mode (WebP warns): ask for RGB and convert below
    grey = channels == 1 and path.suffix.lower() not in (".gif", ".webp")
    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)  # faster than torchvision's read_file
    with warnings.catch_warnings():  # torchvision 0.29 warns on every call that TorchCodec will take over
        warnings.simplefilter("ignore", DeprecationWarning)
        image = decode_image(data, mode=ImageReadMode.GRAY if grey else ImageReadMode.RGB, apply_exif_orientation=True)
    if image.ndim == 4:  # animated GIF: (frames, C, H, W)
        image = image[0]
    if image.dtype == torch.uint16:  # 16-bit PNG
        image = (image.to(torch.int32) >> 8).to(torch.uint8)
    return image


def _decode_pil(path: Path, channels: int) -> torch.Tensor:
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        im: Any = ImageOps.exif_transpose(opened)
        if im.mode.startswith("I;16"):  # PIL's convert("L") clips 16-bit values instead of scaling them
            im = Image.fromarray((np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8))
        array = np.array(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def _to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[0] == channels:
        return image
    if channels == 3 and image.shape[0] == 1:
        return image.expand(3, -1, -1)
    if channels == 1 and image.shape[0] == 3:  # ITU-R 601-2 luma, as PIL's convert("L")
        weights = torch.tensor([299, 587, 114], dtype=torch.int32).view(3, 1, 1)
        return (
            ((image.to(torch.int32) * weights).sum(0, keepdim=True) + 500)
            .div(1000, rounding_mode="floor")
            .to(torch.uint8)
        )
    raise ValueError(f"cannot turn a {image.shape[0]}-channel image into {channels} channels")


def fit_image(
    image: torch.Tensor,
    size: tuple[int, int],
    *,
    resize: str = "crop",
    random_crop: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bring a decoded ``uint8`` image ``(C, H, W)`` to ``size = (h, w)``, keeping ``uint8``.

    ``resize="crop"``: scale (bilinear, antialiased) so that the image just covers ``h × w`` with its
    aspect ratio kept (the shorter side, relative to the target, becomes the target's), then cut out
    ``h × w``: at a random position with ``random_crop`` (training), else in the centre (testing).
    ``resize="stretch"``: scale straight to ``h × w`` (the aspect ratio changes; nothing is cut).
    An image already of size ``(h, w)`` is returned as is.

    Args:
        image: ``uint8`` ``(C, H, W)``.
        size: the output ``(h, w)``.
        resize: ``"crop"`` or ``"stretch"``.
        random_crop: draw the crop's position (from ``generator``, or torch's global generator).
        generator: the generator of the random crop.

    Examples:
        >>> fit_image(torch.zeros(3, 40, 60, dtype=torch.uint8), (32, 32)).shape
        torch.Size([3, 32, 32])
    """
    h, w = size
    height, width = int(image.shape[-2]), int(image.shape[-1])
    if (height, width) == (h, w):
        return image
    from torchvision.transforms.v2 import functional as F

    if resize == "stretch":
        return F.resize(image, [h, w], antialias=True)
    scale = max(h / height, w / width)
    new_h, new_w = max(h, round(height * scale)), max(w, round(width * scale))
    if (new_h, new_w) != (height, width):
        image = F.resize(image, [new_h, new_w], antialias=True)
    if random_crop:
        top = int(torch.randint(0, new_h - h + 1, (), generator=generator))
        left = int(torch.randint(0, new_w - w + 1, (), generator=generator))
    else:
        top, left = (new_h - h) // 2, (new_w - w) // 2
    # a copy, not a view of the larger image
    return image[:, top : top + h, left : left + w].clone(memory_format=torch.contiguous_format)


# ---------------------------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed (``.gz``) or not.

    The header is two zero bytes, a type code (``0x08`` for unsigned bytes …), the number of
    dimensions and one big-endian 32-bit size per dimension; the data follow in C order.

    Args:
        path: the file.

    Returns:
        The array, e.g. ``(60000, 28, 28)`` uint8 images or ``(60000,)`` uint8 labels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a well-formed IDX file (the message names it).

    Examples:
        >>> import tempfile
        >>> raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
        >>> with tempfile.NamedTemporaryFile(suffix=".idx", delete=False) as f:
        ...     _ = f.write(raw)
        >>> read_idx(f.name).tolist()
        [[0, 1, 2], [3, 4, 5]]
        >>> Path(f.name).unlink()
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        buf = f.read()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: header {buf[:4]!r}")
    ndim = buf[3]
    offset = 4 + 4 * ndim
    if len(buf) < offset:
        raise ValueError(f"{path} is truncated: its header announces {ndim} dimensions")
    dims = [int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[buf[2]])
    expected = math.prod(dims) * dtype.itemsize
    if len(buf) - offset != expected:
        raise ValueError(f"{path} holds {len(buf) - offset} data bytes, but its header {dims} announces {expected}")
    return np.frombuffer(buf, dtype, offset=offset).reshape(dims)


# ---------------------------------------------------------------------------------------------- CIFAR
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
"""The folder that torchvision's ``CIFAR10`` / ``CIFAR100`` extract under their ``root``."""

class _CifarFiles(TypedDict):
    train: list[str]
    test: list[str]
    meta: str
    names: str
    labels: str


_FILES: dict[str, _CifarFiles] = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"], "meta": "batches.meta",
                "names": "label_names", "labels": "labels"},
    "cifar100": {"train": ["train"], "test": ["test"], "meta": "meta", "names": "fine_label_names",
                 "labels": "fine_labels"},
}


def _unpickle(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _folder(root: str | os.PathLike[str], variant: str) -> Path:
    base = Path(root).expanduser()
    inner = base / CIFAR_FOLDERS[variant]
    return inner if inner.is_dir() else base


def read_cifar(root: str | os.PathLike[str], variant: str = "cifar10") -> dict[str, Any]:
    """Read CIFAR-10/100 in the python-pickle format of the authors' archive (the one torchvision extracts).

    Args:
        root: torchvision's ``root`` (the folder holding ``cifar-10-batches-py``) or that folder itself.
        variant: ``"cifar10"`` or ``"cifar100"`` (fine labels).

    Returns:
        ``{"train": (uint8 (N, 3, 32, 32), int64 (N,)), "test": (...), "class_names": [...], "folder": Path}``.

    Raises:
        DataNotFoundError: a file is missing (named, with what to put where).
        ValueError: a file does not hold CIFAR arrays.
    """
    if variant not in _FILES:
        raise ConfigError(f"variant must be one of {sorted(_FILES)}, got variant={variant!r}")
    spec = _FILES[variant]
    folder = _folder(root, variant)
    names = [*spec["train"], *spec["test"], spec["meta"]]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{variant} not found: {', '.join(missing)} missing in {str(folder)!r}. Point root at the folder that "
            f"holds {CIFAR_FOLDERS[variant]}/ (torchvision's CIFAR root), or at that folder itself; this loader never "
            "downloads (get the python version of the archive from the authors' page and extract it)."
        )
    out: dict[str, Any] = {"folder": folder}
    for split in ("train", "test"):
        xs, ys = [], []
        for name in spec[split]:
            batch = _unpickle(folder / name)
            if "data" not in batch or spec["labels"] not in batch:
                raise ValueError(f"{folder / name}: not a CIFAR batch (keys {sorted(batch)})")
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"{folder / name}: expected rows of 3072 bytes, got an array of shape {data.shape}")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[spec["labels"]], dtype=np.int64))
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    meta = _unpickle(folder / spec["meta"])
    out["class_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[spec["names"]]]
    return out
