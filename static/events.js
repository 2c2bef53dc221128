// The live event stream (/api/events): reconnects by itself and reports its state.

import { API } from "./api.js";

const KINDS = ["hello", "message", "delete", "clear", "read", "mailbox", "faults", "reset", "heartbeat"];
// The server sends a heartbeat every 15 s; silence for longer means a dead connection.
const SILENCE_MS = 40_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * connect({mailbox, onEvent(kind, data, isReconnect), onStatus(state)}) with state one of
 * "connecting", "live", "offline": one mailbox's changes, or every change for a null
 * mailbox (All mail). Returns a function that closes the stream.
 */
export function connect({ mailbox = null, onEvent, onStatus }) {
  let source = null;
  let lastId = null;
  let backoff = 1000;
  let retryTimer = 0;
  let lastSeen = Date.now();
  let hellos = 0;
  let closed = false;

  function open() {
    if (closed) return;
    onStatus("connecting");
    const params = new URLSearchParams();
    if (mailbox !== null) params.set("mailbox", mailbox);
    if (lastId !== null) params.set("last_event_id", lastId);
    source = new EventSource(params.size ? `${API}/events?${params}` : `${API}/events`);
    lastSeen = Date.now();
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        lastSeen = Date.now();
        if (event.lastEventId) lastId = event.lastEventId;
        let data = null;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        if (kind === "hello") {
          backoff = 1000;
          hellos += 1;
          onStatus("live");
        }
        onEvent(kind, data, hellos > 1);
      });
    }
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (the server answered with an error): retry ourselves.
        reopenLater();
      } else {
        onStatus("connecting");
      }
    });
  }

  function reopenLater() {
    source?.close();
    onStatus("offline");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(open, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }

  const watchdog = setInterval(() => {
    if (source && source.readyState === EventSource.OPEN && Date.now() - lastSeen > SILENCE_MS) {
      reopenLater();
    }
  }, 5000);

  open();
  return () => {
    closed = true;
    clearInterval(watchdog);
    clearTimeout(retryTimer);
    source?.close();
  };
}
