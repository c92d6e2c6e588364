"""From the photo's bytes to a flat, upright page: decoding (EXIF orientation applied), light
checks, finding the paper and undoing the perspective."""

import cv2
import numpy as np
import pillow_heif

from ecg_ml.digitize import feedback
from ecg_ml.errors import UnreadablePhoto
from ecg_ml.io.common import image_format

MAX_DECODED_SIDE = 4200  # larger photos are decoded at half size (JPEG decoders do it cheaply)
FIND_SIDE = 800  # the paper is found on a small copy
MIN_PAGE_PX = 300  # a page (or close-up) spanning fewer photo pixels holds no readable ECG
PAGE_WIDTH_PX = 2400  # the flat page is worked on at this width (about 8 px/mm on A4)


def decode(data: bytes) -> np.ndarray:
    """BGR uint8, turned upright by its EXIF orientation (OpenCV applies it when decoding; for
    iPhone HEIC photos, which OpenCV cannot read, pillow-heif applies the HEIF rotation)."""
    if image_format(data) == "heic":
        return _decode_heif(data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if image is None:
        raise UnreadablePhoto(feedback.NOT_AN_IMAGE)
    if max(image.shape[:2]) > MAX_DECODED_SIDE:
        half = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_COLOR_2)
        image = half if half is not None else image
    return image


def _decode_heif(data: bytes) -> np.ndarray:
    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        rgb = np.asarray(heif.to_pillow().convert("RGB"))
    except (ValueError, RuntimeError, OSError):
        raise UnreadablePhoto(feedback.NOT_AN_IMAGE) from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def check_light(image: np.ndarray) -> None:
    """Paper is the brightest thing in an ECG photo; when even it is dark, nothing can be read."""
    small = cv2.resize(
        image, (256, round(256 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA
    )
    if np.percentile(small.max(axis=2), 90) < 70:
        raise UnreadablePhoto(feedback.TOO_DARK)


def find_paper(image: np.ndarray) -> np.ndarray:
    """Corners of the paper (float32 [4, 2]: top-left, top-right, bottom-right, bottom-left) in image
    pixels: the largest bright, low-saturation region, reduced to a quadrilateral. The whole image
    when no such region stands out (a scan, or paper filling the frame)."""
    h, w = image.shape[:2]
    scale = FIND_SIDE / max(h, w)
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    sharp = small
    small = cv2.GaussianBlur(small, (0, 0), 2)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    # Paper: bright and pale, or (in a shadow) finely lined: the grid's contrast to its surroundings
    # does not change with the light falling on it.
    paperness = hsv[..., 2].astype(np.float32) - 0.6 * hsv[..., 1].astype(np.float32)
    paperness = np.clip(paperness, 0, 255).astype(np.uint8)
    _, bright = cv2.threshold(paperness, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    gray = cv2.cvtColor(sharp, cv2.COLOR_BGR2GRAY).astype(np.float32)
    detail = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 3))
    contrast = cv2.blur(detail, (15, 15)) / np.maximum(cv2.blur(gray, (15, 15)), 8.0)
    lined = (contrast > 0.035) & (hsv[..., 1] < 90)
    mask = np.where(lined, 255, bright).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    whole = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    if count < 2:
        return whole
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[biggest, cv2.CC_STAT_AREA]
    if area < 0.15 * mask.size or area > 0.97 * mask.size:
        return whole
    contours, _ = cv2.findContours(
        (labels == biggest).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    quad = _four_corners(hull)
    # Paper filling nearly the whole frame: a shadow or a dark corner has bitten into the region,
    # and its outline would shear the page; the frame itself is the better outline.
    if quad is None or cv2.contourArea(quad) > 0.85 * mask.size:
        return whole
    return (quad / scale).astype(np.float32)


def check_size(corners: np.ndarray) -> None:
    """A photo too small to hold a readable ECG (a thumbnail): too_small, whatever it shows."""
    width, height, _ = _width_height_scale(corners)
    if max(width, height) < MIN_PAGE_PX:
        raise UnreadablePhoto(feedback.TOO_SMALL)


def photo_px_per_mm(corners: np.ndarray, flat_px_per_mm: float) -> float:
    """Pixels per mm of paper in the photo itself, from the flat page's (flatten enlarges a small
    photo's page to its working scale, which adds no detail)."""
    return flat_px_per_mm / _width_height_scale(corners)[2]


def _four_corners(hull: np.ndarray) -> np.ndarray | None:
    perimeter = cv2.arcLength(hull, True)
    for fraction in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, fraction * perimeter, True)
        if len(approx) == 4:
            return _ordered(approx.reshape(4, 2).astype(np.float32))
    # Rounded or clipped corners: the rotated bounding box is the next best page outline.
    return _ordered(cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32))


def _ordered(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    s = points.sum(axis=1)
    d = points[:, 0] - points[:, 1]
    return np.array(
        [points[np.argmin(s)], points[np.argmax(d)], points[np.argmax(s)], points[np.argmin(d)]],
        dtype=np.float32,
    )


def _width_height_scale(corners: np.ndarray) -> tuple[float, float, float]:
    """The outline's width and height (px) and the scale the flat page is made at: PAGE_WIDTH_PX
    wide at most (landscape kept as shot). A small photo (under 3/4 of that) is enlarged to it, so
    that every later step sees the grid at its usual scale; one near it is left as it is
    (resampling blurs the thin trace)."""
    top = np.linalg.norm(corners[1] - corners[0])
    bottom = np.linalg.norm(corners[2] - corners[3])
    left = np.linalg.norm(corners[3] - corners[0])
    right = np.linalg.norm(corners[2] - corners[1])
    width, height = max(top, bottom), max(left, right)
    scale = PAGE_WIDTH_PX / width if width < 0.75 * PAGE_WIDTH_PX else min(1.0, PAGE_WIDTH_PX / width)
    return float(width), float(height), scale


def flat_size(corners: np.ndarray) -> tuple[int, int]:
    """Width and height (px) of the page flatten(photo, corners) returns."""
    width, height, scale = _width_height_scale(corners)
    return round(width * scale), round(height * scale)


def flatten(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The page seen from straight above, flat_size(corners) large."""
    width, height, scale = _width_height_scale(corners)
    out_w, out_h = round(width * scale), round(height * scale)
    if scale < 0.8:  # shrink with area averaging first: warping alone would alias the thin lines
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        corners = corners * scale
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    # Beyond the photo (a page outline reaching past its edge) lies blank paper: a replicated
    # border would smear the edge's ink into lines that look like traces.
    return cv2.warpPerspective(
        image,
        matrix,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )


def fills_frame(corners: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether find_paper found no page edges and took the photo's frame as the outline."""
    h, w = shape[:2]
    return bool(np.allclose(corners, [[0, 0], [w, 0], [w, h], [0, h]]))


def flattening(outline: np.ndarray) -> np.ndarray:
    """The projective map (3x3) from photo pixels to those of the page flatten(photo, outline)."""
    w, h = flat_size(outline)
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    return cv2.getPerspectiveTransform(outline.astype(np.float32), frame)


def untilted(shape: tuple[int, ...], to_page: np.ndarray) -> np.ndarray | None:
    """The outline in the photo whose flattening is `to_page` (a projective map of photo pixels):
    the photo's frame carried through it, boxed, and carried back. None when the map would fold or
    stretch the page past reason (its horizon near the frame)."""
    h, w = shape[:2]
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    depth = np.c_[frame, np.ones(4)] @ to_page[2]
    if depth.min() <= 0 or depth.min() < 0.5 * depth.max():
        return None
    carried = cv2.perspectiveTransform(frame.reshape(-1, 1, 2), to_page).reshape(-1, 2)
    (x0, y0), (x1, y1) = carried.min(axis=0), carried.max(axis=0)
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(box, np.linalg.inv(to_page)).reshape(-1, 2).astype(np.float32)


def touches_border(corners: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether the paper runs off the photo (a corner on or past its edge)."""
    h, w = shape[:2]
    margin = 0.004 * max(h, w)
    x, y = corners[:, 0], corners[:, 1]
    on_edge = (x <= margin) | (x >= w - margin) | (y <= margin) | (y >= h - margin)
    return bool(on_edge.any()) and not bool(on_edge.all())
