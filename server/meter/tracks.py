"""Feature tracks through a clip: Shi-Tomasi corners followed by pyramidal Lucas-Kanade, frame to frame."""

from __future__ import annotations

import numpy as np

#: Corners kept per frame; new ones are detected when the live tracks fall under half of it. 150 and the
#: small LK below measured as right as 300 and (15 px, 3 levels, 20 iterations) on the bench's clips, at
#: a quarter of the time (BENCHMARKS.md, "Motion meter"); LK's cost is per point and pyramid level.
MAX_CORNERS = 150
#: A track survives a step only if its patch still looks like itself: Lucas-Kanade's own error (mean
#: absolute difference of the window, 0-255) under this many times the step's median and at least
#: ERR_MIN. It drops points on occlusion edges and drifting in flat areas as the forward-backward
#: check did (tracking each step back again: the points that check dropped have a median error of
#: 7-14 against 1-2 for the rest), at no cost: the check was half of the tracking time (BENCHMARKS.md).
#: ERR_MAX caps it: in a picture nothing can be followed in (noise) every point's error is high (35-40),
#: so the median would let them all through.
ERR_FACTOR = 3.0
ERR_MIN = 4.0
ERR_MAX = 12.0
#: Corners weaker than this (cv2.cornerMinEigenVal, block 7) are not texture but codec noise: a flat
#: gray wall's strongest corner measures about 2e-5, the textured test set's weakest kept ones 4e-3.
MIN_CORNER_EIG = 1e-3
#: Lucas-Kanade: window, pyramid levels above the frame, iterations and the step that ends them. Two
#: levels of an 11 px window follow about 20 px a frame at tracking size (512 px wide at most).
LK_WIN = 11
LK_LEVELS = 2
LK_ITERS = 10
LK_EPS = 0.03


def track(frames: list[np.ndarray]) -> np.ndarray:
    """Positions (tracks, frames, 2) in pixels, NaN where a track is not seen."""
    import cv2

    n = len(frames)
    h, w = frames[0].shape
    min_dist = max(4, int(min(w, h) / 40))
    lk = dict(
        winSize=(LK_WIN, LK_WIN),
        maxLevel=LK_LEVELS,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, LK_ITERS, LK_EPS),
    )
    # Positions of every track so far (grown in blocks), and which tracks are alive with where they are.
    pos = np.full((2 * MAX_CORNERS, n, 2), np.nan, np.float32)
    count = 0
    live_ids = np.zeros(0, np.intp)
    live_pts = np.zeros((0, 1, 2), np.float32)

    def detect(img: np.ndarray, frame: int) -> None:
        nonlocal pos, count, live_ids, live_pts
        mask = np.full(img.shape, 255, np.uint8)
        for x, y in live_pts.reshape(-1, 2):
            cv2.circle(mask, (int(x), int(y)), min_dist, 0, -1)
        want = MAX_CORNERS - len(live_ids)
        new = cv2.goodFeaturesToTrack(img, want, 0.01, min_dist, mask=mask, blockSize=7)
        if new is None:
            return
        eig = cv2.cornerMinEigenVal(img, 7)
        xy = new.reshape(-1, 2).astype(int)
        new = new[eig[xy[:, 1], xy[:, 0]] >= MIN_CORNER_EIG].astype(np.float32).reshape(-1, 1, 2)
        if count + len(new) > len(pos):
            pos = np.concatenate([pos, np.full((max(len(pos), len(new)), n, 2), np.nan, np.float32)])
        ids = np.arange(count, count + len(new))
        pos[ids, frame] = new.reshape(-1, 2)
        count += len(new)
        live_ids = np.concatenate([live_ids, ids])
        live_pts = np.concatenate([live_pts, new])

    detect(frames[0], 0)
    for i in range(1, n):
        if len(live_ids):
            nxt, st, err = cv2.calcOpticalFlowPyrLK(frames[i - 1], frames[i], live_pts, None, **lk)
            found, err = st.ravel() == 1, err.ravel()
            median = float(np.median(err[found])) if found.any() else 0.0
            limit = min(ERR_MAX, max(ERR_MIN, ERR_FACTOR * median))
            inside = (nxt[:, 0, 0] >= 0) & (nxt[:, 0, 0] < w) & (nxt[:, 0, 1] >= 0) & (nxt[:, 0, 1] < h)
            ok = found & (err < limit) & inside
            live_ids, live_pts = live_ids[ok], nxt[ok]
            pos[live_ids, i] = live_pts.reshape(-1, 2)
        if len(live_ids) < MAX_CORNERS // 2:
            detect(frames[i], i)
    return pos[:count]
