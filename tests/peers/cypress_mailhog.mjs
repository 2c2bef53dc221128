// Runs cypress-mailhog's commands through the stand-in: node cypress_mailhog.mjs BASE_URL
import { createRequire } from "node:module";
import { install } from "./cypress.mjs";

const [base] = process.argv.slice(2);
const { cy } = install({ mailHogUrl: base, defaultCommandTimeout: 4000 });
createRequire(import.meta.url)("cypress-mailhog");

const value = (chain) => new Promise((resolve, reject) => chain.then(resolve, reject));
const out = {};
out.all = (await value(cy.mhGetAllMails())).map((m) => m.Content.Headers.Subject[0]);
const [first] = await value(cy.mhGetMailsBySubject("Rich HTML with files"));
out.subject = await value(cy.wrap(first).mhGetSubject());
out.sender = await value(cy.wrap(first).mhGetSender());
out.recipients = await value(cy.wrap(first).mhGetRecipients());
out.attachments = await value(cy.wrap(first).mhGetAttachments());
out.byRecipient = (await value(cy.mhGetMailsByRecipient("grace@hidden.test"))).map((m) => m.Content.Headers.Subject[0]);
out.bySender = (await value(cy.mhGetMailsBySender("boss@shop.test"))).length;
out.search = (await value(cy.mhSearchMails("containing", "Küche"))).map((m) => m.Content.Headers.Subject[0]);
const plain = await value(cy.mhGetMailsBySubject("Plain quoted-printable").mhFirst());
out.body = await value(cy.wrap(plain).mhGetBody());
await value(cy.mhHasMailWithSubject("Copies for the team"));
out.jim = await value(cy.mhGetJimMode());
await value(cy.mhSetJimMode(true));
out.jimOn = await value(cy.mhGetJimMode());
await value(cy.mhSetJimMode(false));
out.jimOff = await value(cy.mhGetJimMode());
await value(cy.mhDeleteAll());
out.afterDeleteAll = (await value(cy.mhGetAllMails())).length;
console.log(JSON.stringify(out));
// Pending timers (the Cypress packages time their retries out) must not hold the exit.
process.exit(0);
