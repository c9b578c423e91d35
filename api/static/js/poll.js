// Live pages: calls `tick` now and then every `ms` after the previous call finished, never two
// at once; pauses while the tab is hidden. The header's "live" marker turns red while calls
// fail.

import { showError, signInShown } from "./dom.js";

export function poll(tick, ms) {
  const marker = document.getElementById("live");
  async function loop() {
    // Paused while the sign-in form is up: signing in reloads the page.
    if (!document.hidden && !signInShown()) {
      try {
        await tick();
        if (marker) marker.classList.remove("stale");
      } catch (error) {
        if (marker) marker.classList.add("stale");
        showError(error.message);
      }
    }
    setTimeout(loop, ms);
  }
  loop();
}
