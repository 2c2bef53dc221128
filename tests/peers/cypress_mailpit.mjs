// Runs cypress-mailpit's commands through the stand-in: node cypress_mailpit.mjs BASE_URL
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { install } from "./cypress.mjs";

const [base] = process.argv.slice(2);
const { cy } = install({ MAILPIT_URL: base, defaultCommandTimeout: 4000 });
// The package's entry registers every command; its ES module imports omit the .js
// extension, which only a bundler resolves, so the stand-in registers them the same way.
const require = createRequire(import.meta.url);
const source = readFileSync(require.resolve("cypress-mailpit/dist/src/MailpitCommands.js"), "utf8");
const { MailpitCommands } = await import("data:text/javascript," + encodeURIComponent(source));
const commands = new MailpitCommands();
for (const name of MailpitCommands.parentCypressCommands) {
  Cypress.Commands.add(name, {}, commands[name].bind(commands));
}
for (const name of MailpitCommands.childCypressCommands) {
  Cypress.Commands.add(name, { prevSubject: true }, commands[name].bind(commands));
}

const out = {};
const value = (chain) => new Promise((resolve, reject) => chain.then(resolve, reject));
out.all = (await value(cy.mailpitGetAllMails())).messages_count;
const subject = await value(cy.mailpitGetEmailsBySubject("Rich HTML"));
out.bySubject = subject.messages.map((m) => m.Subject);
out.byTo = (await value(cy.mailpitGetEmailsByTo("grace@hidden.test"))).messages.map((m) => m.Subject);
out.has = (await value(cy.mailpitHasEmailsBySubject("Copies"))).messages_count;
out.notHas = (await value(cy.mailpitNotHasEmailsBySubject("Nothing like this"))).messages_count;
const mail = await value(cy.mailpitGetMail(subject.messages[0].ID));
out.subject = await value(cy.wrap(mail).mailpitGetSubject());
out.from = await value(cy.wrap(mail).mailpitGetFromAddress());
out.to = await value(cy.wrap(mail).mailpitGetRecipientAddress());
out.attachments = await value(cy.wrap(mail).mailpitGetAttachments());
out.html = await value(cy.wrap(mail).mailpitGetMailHTMlBody());
out.text = await value(cy.wrap(mail).mailpitGetMailTextBody());
await value(cy.wrap(mail).mailpitSetStatusAsUnRead());
out.unreadAfterOne = (await value(cy.mailpitSearchEmails("is:unread"))).messages.map((m) => m.Subject);
await value(cy.mailpitSetAllEmailStatusAsRead());
out.unreadAfterAll = (await value(cy.mailpitGetAllMails())).messages_unread;
const sent = await value(cy.mailpitSendMail({ subject: "From cypress", to: [{ Email: "kim@example.com", Name: "Kim" }] }));
out.sent = (await value(cy.mailpitGetMail(sent.ID))).To.map((a) => a.Address);
await value(cy.mailpitDeleteEmailsBySearch("subject:cypress"));
out.afterDeleteSearch = (await value(cy.mailpitGetAllMails())).messages.map((m) => m.Subject);
await value(cy.mailpitDeleteAllEmails());
out.afterDeleteAll = (await value(cy.mailpitGetAllMails())).messages_count;
console.log(JSON.stringify(out));
// Pending timers (the Cypress packages time their retries out) must not hold the exit.
process.exit(0);
