// A small stand-in for Cypress, enough to run the Cypress command packages outside a
// browser: Cypress.Commands.add, cy.request (over fetch, failing on 4xx/5xx as Cypress
// does), cy.wrap, cy.wait, cy.env, and chains with then/its/should.

class Chain {
  constructor(promise) {
    this.promise = Promise.resolve(promise);
  }

  // Cypress semantics: a callback that returns nothing keeps the subject; one that
  // returns a chain (or a promise) yields what that yields.
  then(onValue, onError) {
    const next = this.promise.then((value) => {
      if (!onValue) return value;
      const result = onValue(value);
      if (result === undefined) return value;
      return result instanceof Chain ? result.promise : result;
    }, onError);
    return new Chain(next);
  }

  its(name) {
    return this.then((value) => value[name]);
  }

  should(chainer, expected) {
    return this.then((value) => {
      const length = value == null ? undefined : value.length;
      const checks = {
        "not.have.length": () => length !== expected,
        "have.length": () => length === expected,
        "to.have.length.greaterThan": () => length > expected,
      };
      const check = checks[chainer];
      if (!check) throw new Error(`stand-in: unsupported assertion ${chainer}`);
      if (!check()) throw new Error(`expected ${JSON.stringify(value)} to ${chainer} ${expected}`);
      return value;
    });
  }
}

export function install(settings = {}) {
  const commands = {};
  const cy = {
    wrap: (value) => new Chain(value),
    wait: (ms) => new Chain(new Promise((resolve) => setTimeout(resolve, ms))),
    env: () => new Chain({}),
    verifyUpcomingAssertions: (subject) => new Chain(subject),
    request: (options) => new Chain(request(options)),
  };
  const Cypress = {
    expose: (name) => settings[name],
    env: (name) => settings[name],
    config: (name) => settings[name],
    Commands: {
      add(name, options, fn) {
        if (typeof options === "function") [options, fn] = [{}, options];
        commands[name] = fn;
        if (options && options.prevSubject) {
          Chain.prototype[name] = function (...args) {
            return this.then((subject) => fn(subject, ...args));
          };
        } else {
          cy[name] = (...args) => new Chain(undefined).then(() => fn(...args));
        }
      },
    },
  };
  globalThis.Cypress = Cypress;
  globalThis.cy = cy;
  return { cy, Cypress, commands };
}

async function request({ method = "GET", url, qs, body, auth, failOnStatusCode = true }) {
  const target = new URL(url);
  for (const [key, value] of Object.entries(qs || {})) target.searchParams.set(key, String(value));
  const headers = {};
  if (auth && auth.user) {
    headers.Authorization = "Basic " + Buffer.from(`${auth.user}:${auth.pass}`).toString("base64");
  }
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  // The path is sent as written (cypress-mailpit's //view/... included).
  const response = await fetch(target, { method, headers, body: payload });
  const text = await response.text();
  let parsed = text;
  if ((response.headers.get("content-type") || "").includes("json") && text) parsed = JSON.parse(text);
  if (failOnStatusCode && response.status >= 400) {
    throw new Error(`cy.request failed: ${response.status} ${method} ${url}: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body: parsed, headers: Object.fromEntries(response.headers) };
}

export { Chain };
