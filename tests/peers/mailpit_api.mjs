// Drives npm mailpit-api's MailpitClient against a catcher: node mailpit_api.mjs BASE_URL [wait]
// Prints what the client returned, as JSON, for tests/test_peer_clients.py to check.
import { MailpitClient } from "mailpit-api";

const [base, mode] = process.argv.slice(2);
const client = new MailpitClient(base);

if (mode === "wait") {
  process.stderr.write("waiting\n");
  const found = await client.waitForMessage({ query: "subject:Later" }, { timeout: 20000, interval: 50 });
  console.log(JSON.stringify({ Subject: found.Subject, Text: found.Text }));
  process.exit(0);
}

const out = {};
const listed = await client.listMessages();
out.list = listed;
const bySubject = Object.fromEntries(listed.messages.map((m) => [m.Subject, m.ID]));
out.ids = bySubject;
const rich = await client.getMessageSummary(bySubject["Rich HTML with files"]);
out.rich = rich;
const attachment = await client.getMessageAttachment(rich.ID, rich.Attachments[0].PartID);
out.attachment = Buffer.from(await attachment.arrayBuffer()).toString("base64");
const inline = await client.getMessageAttachment(rich.ID, rich.Inline[0].PartID);
out.inline = Buffer.from(await inline.arrayBuffer()).toString("base64");
out.headers = await client.getMessageHeaders(bySubject["Plain quoted-printable"]);
out.raw = await client.getMessageSource(bySubject["Plain quoted-printable"]);
out.html = await client.renderMessageHTML(rich.ID);
out.text = await client.renderMessageText(bySubject["Plain quoted-printable"]);
out.search = await client.searchMessages({ query: "bcc:grace -subject:Rich" });
out.encoded = await client.searchMessages({ query: 'subject:"aus Köln"' });
out.read = (await client.searchMessages({ query: "is:read" })).messages.map((m) => m.ID);
await client.setReadStatus({ IDs: [rich.ID], Read: false });
out.readAfterUnread = (await client.searchMessages({ query: "is:read" })).messages.map((m) => m.ID);
await client.setReadStatus({ Read: true });
out.unreadAfterAllRead = (await client.listMessages()).unread;
out.info = await client.getInfo();
out.webui = await client.getConfiguration();
out.latest = (await client.getMessageSummary()).Subject;
out.htmlCheck = await client.htmlCheck(rich.ID);
out.linkCheck = await client.linkCheck(rich.ID, true);
try {
  await client.htmlCheck(bySubject["Plain quoted-printable"]);
  out.htmlCheckPlain = "accepted";
} catch (error) {
  out.htmlCheckPlain = String(error.message);
}
out.chaosSet = await client.setChaosTriggers({ Sender: { ErrorCode: 451, Probability: 50 } });
out.chaosRead = await client.getChaosTriggers();
await client.setChaosTriggers({});
const sent = await client.sendMessage({
  From: { Email: "api@shop.test", Name: "API Sender" },
  To: [{ Email: "ivan@example.com", Name: "Ivan" }],
  Bcc: ["judy@hidden.test"],
  Subject: "Sent through the API",
  Text: "Plain from the API",
  HTML: '<p>HTML from the API <img src="cid:dot"></p>',
  Attachments: [
    { Content: Buffer.from("col1,col2\n1,2\n").toString("base64"), Filename: "data.csv", ContentType: "text/csv" },
    { Content: Buffer.from("GIF89a").toString("base64"), Filename: "dot.gif", ContentType: "image/gif", ContentID: "dot" },
  ],
  Headers: { "X-Campaign": "spring" },
});
out.sent = await client.getMessageSummary(sent.ID);
out.sentHeaders = await client.getMessageHeaders(sent.ID);
out.deleteOne = await client.deleteMessages({ IDs: [bySubject["Plain quoted-printable"]] });
out.afterDeleteOne = (await client.listMessages()).messages.map((m) => m.Subject);
out.deleteSearch = await client.deleteMessagesBySearch({ query: "from:boss" });
out.afterDeleteSearch = (await client.listMessages()).messages.map((m) => m.Subject);
try {
  await client.releaseMessage(sent.ID, { To: ["x@example.com"] });
  out.release = "accepted";
} catch (error) {
  out.release = String(error.message);
}
out.deleteAll = await client.deleteMessages();
out.afterDeleteAll = (await client.listMessages()).total;
console.log(JSON.stringify(out));
