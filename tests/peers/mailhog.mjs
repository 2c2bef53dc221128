// Drives npm mailhog against a catcher: node mailhog.mjs HOST PORT
import mailhog from "mailhog";

const [host, port] = process.argv.slice(2);
const api = mailhog({ host, port: Number(port) });
const out = {};
const all = await api.messages();
out.total = all.total;
out.subjects = all.items.map((m) => m.subject);
const plain = all.items.find((m) => m.subject === "Plain quoted-printable");
out.plain = { text: plain.text, from: plain.from, to: plain.to, date: plain.date.toISOString(), id: plain.ID };
const rich = all.items.find((m) => m.subject === "Rich HTML with files");
out.richAttachments = rich.attachments.map((a) => ({ name: a.name, type: a.type, encoding: a.encoding, body: a.Body }));
const copies = all.items.find((m) => m.subject === "Copies for the team");
out.copies = { to: copies.to, cc: copies.cc, envelope: copies.To.map((p) => `${p.Mailbox}@${p.Domain}`) };
out.paged = (await api.messages(1, 2)).items.map((m) => m.subject);
out.searchTo = (await api.search("grace@hidden.test", "to")).items.map((m) => m.subject);
out.searchFrom = (await api.search("boss@shop.test", "from")).items.map((m) => m.subject);
out.searchContaining = (await api.search("Küche")).items.map((m) => m.subject);
out.latestTo = (await api.latestTo("heidi@example.com")).subject;
out.deleteOne = await api.deleteMessage(plain.ID).then(() => "ok", (e) => String(e));
out.afterDeleteOne = (await api.messages()).items.map((m) => m.subject);
out.deleteAll = await api.deleteAll().then(() => "ok", (e) => String(e));
out.afterDeleteAll = (await api.messages()).total;
console.log(JSON.stringify(out));
// Pending timers (the Cypress packages time their retries out) must not hold the exit.
process.exit(0);
