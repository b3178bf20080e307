// Time behind a small interface, so the logic that depends on it (session fencing, down-grace) can be
// driven by a fake clock in tests.

/** Milliseconds on a monotonic scale (never goes back); comparable only with the same clock. */
export type Clock = () => number;

/**
 * The default clock: monotonic (performance.now), offset by the process's start time so values look
 * like epoch milliseconds. Unlike Date.now it does not jump when the wall clock is adjusted, which a
 * fence measured in milliseconds must not do.
 */
export const monotonicNow: Clock = () => performance.timeOrigin + performance.now();
