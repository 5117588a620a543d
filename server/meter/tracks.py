"""Feature tracks through a clip: Shi-Tomasi corners followed by pyramidal Lucas-Kanade."""

from __future__ import annotations

import numpy as np

#: Corners kept per frame; new ones are detected when the live tracks fall under half of it. 150 and the
#: small LK below measured as right as 300 and (15 px, 3 levels, 20 iterations) on the bench's clips, at
#: a quarter of the time (BENCHMARKS.md, "Motion meter"); LK's cost is per point and pyramid level.
MAX_CORNERS = 150
#: A track survives a step only if tracking it back lands within this many pixels of where it started
#: (forward-backward check: drops points on occlusion edges and in flat areas).
FB_MAX_PX = 0.5
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
    tracks: list[np.ndarray] = []
    live_ids: list[int] = []
    live_pts = np.zeros((0, 1, 2), np.float32)

    def detect(img: np.ndarray, frame: int) -> None:
        nonlocal live_pts
        mask = np.full(img.shape, 255, np.uint8)
        for x, y in live_pts.reshape(-1, 2):
            cv2.circle(mask, (int(x), int(y)), min_dist, 0, -1)
        want = MAX_CORNERS - len(live_ids)
        new = cv2.goodFeaturesToTrack(img, want, 0.01, min_dist, mask=mask, blockSize=7)
        if new is None:
            return
        eig = cv2.cornerMinEigenVal(img, 7)
        xy = new.reshape(-1, 2).astype(int)
        new = new[eig[xy[:, 1], xy[:, 0]] >= MIN_CORNER_EIG]
        for p in new.reshape(-1, 2):
            row = np.full((n, 2), np.nan, np.float32)
            row[frame] = p
            tracks.append(row)
            live_ids.append(len(tracks) - 1)
        live_pts = np.concatenate([live_pts, new.astype(np.float32).reshape(-1, 1, 2)])

    detect(frames[0], 0)
    for i in range(1, n):
        if len(live_ids):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(frames[i - 1], frames[i], live_pts, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(frames[i], frames[i - 1], nxt, None, **lk)
            fb = np.linalg.norm((back - live_pts).reshape(-1, 2), axis=1)
            inside = (nxt[:, 0, 0] >= 0) & (nxt[:, 0, 0] < w) & (nxt[:, 0, 1] >= 0) & (nxt[:, 0, 1] < h)
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < FB_MAX_PX) & inside
            live_ids = [t for t, keep in zip(live_ids, ok, strict=True) if keep]
            live_pts = nxt[ok]
            for t, p in zip(live_ids, live_pts.reshape(-1, 2), strict=True):
                tracks[t][i] = p
        if len(live_ids) < MAX_CORNERS // 2:
            detect(frames[i], i)
    if not tracks:
        return np.full((0, n, 2), np.nan, np.float32)
    return np.stack(tracks)
