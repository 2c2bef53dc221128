// Sends one message with nodemailer: node send.mjs HOST PORT FROM TO SUBJECT [USER PASS]
// Prints {"ok": true, "response": ...} or {"ok": false, "code": ..., "responseCode": ..., "response": ...}.
import nodemailer from "nodemailer";

const [host, port, from, to, subject, user, pass] = process.argv.slice(2);
const transport = nodemailer.createTransport({
  host,
  port: Number(port),
  secure: false,
  ignoreTLS: true,
  auth: user ? { user, pass } : undefined,
  connectionTimeout: 20000,
});
try {
  const info = await transport.sendMail({ from, to: to.split(","), subject, text: `Body of ${subject}` });
  console.log(JSON.stringify({ ok: true, response: info.response, accepted: info.accepted, rejected: info.rejected }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, code: error.code, responseCode: error.responseCode ?? null, response: error.response ?? null, command: error.command ?? null }));
}
