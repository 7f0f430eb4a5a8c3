// js-runaway: tools that never finish on their own. The sandbox stops `spin` when its fuel (or
// its time) runs out and `hog` when it reaches its memory limit; the host then drops the
// instance and keeps serving. `calls` shows that warm instances are reused between calls, and
// that a stopped one is not.
import { exportTools } from "chitin-sdk";

// Module state lives as long as the instance: JavaScript plugins run in warm instances that the
// host reuses (and recycles after a while, or after any trap).
let served = 0;

export const tool = exportTools({
  spin: {
    description: "Loops forever (the sandbox stops it).",
    run() {
      served += 1;
      let n = 0;
      for (;;) n += 1;
    },
  },
  hog: {
    description: "Allocates memory without end (the sandbox stops it).",
    run() {
      served += 1;
      const kept = [];
      for (;;) kept.push(new Uint8Array(1 << 20).fill(1));
    },
  },
  calls: {
    description: "How many calls this instance has served, this one included.",
    run() {
      served += 1;
      return String(served);
    },
  },
});
