// A Constant Contact integration driven through Constant Contact's own
// generated TypeScript client (npm package ctct-api-client, pinned in
// package.json) against segmentd: custom fields, lists, tags, contacts
// (create, get, update, filters, the sign-up form), a JSON import and
// tag activities polled to completion, segments by custom field, list and
// tag with their members pages, and deletes. It keeps a model of what
// it wrote and checks every answer against it.
//
// Run by cmd/segmentd/ctctclient_test.go:
//
//	SEGMENTD_URL=http://127.0.0.1:8080 SEGMENTD_TOKEN=SG.… node integration.js
//
// It exits 0 when every check held; otherwise it prints the step, what
// differed and (for an HTTP error) the status and body, and exits 1.
// SEGMENTD_CTCT_BREAK=1 makes the model expect one member too many in a
// segment, so that the Go test can see a mismatch fail the program.
'use strict';

const assert = require('node:assert/strict');
const ctct = require('ctct-api-client');

const base = process.env.SEGMENTD_URL;
const token = process.env.SEGMENTD_TOKEN;
if (!base || !token) {
  console.error('SEGMENTD_URL and SEGMENTD_TOKEN must be set');
  process.exit(2);
}

// The generated client's Configuration: basePath replaces its default
// https://api.cc.email/v3, and accessToken is sent as "Authorization:
// Bearer <token>" on every operation (both OAuth2 schemes of the spec).
const config = new ctct.Configuration({ basePath: base + '/v3', accessToken: token });
const fields = new ctct.ContactsCustomFieldsApi(config);
const lists = new ctct.ContactListsApi(config);
const tags = new ctct.ContactTagsApi(config);
const contacts = new ctct.ContactsApi(config);
const activities = new ctct.BulkActivitiesApi(config);
const segments = new ctct.SegmentsApi(config);

let step = 'start';

// want checks one answer, naming the step and what was checked.
function want(got, expected, what) {
  assert.deepStrictEqual(got, expected, `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
}

function sorted(xs) {
  return [...xs].sort();
}

// status checks an answer's HTTP status and returns its body.
function status(res, code, what) {
  want(res.status, code, `${what}: status`);
  return res.data;
}

// The model: what the integration wrote, by email.
const model = new Map();

function modelled(email, c) {
  model.set(email, { plan: c.plan, lists: new Set(c.lists || []), tags: new Set(c.tags || []) });
}

function emailsWhere(pred) {
  return sorted([...model].filter(([, c]) => pred(c)).map(([e]) => e));
}

// waitActivity polls GET /v3/activities/{id} until the activity leaves
// its queued states, with a deadline, and checks that it completed.
async function waitActivity(id, what) {
  const deadline = Date.now() + 60000;
  for (let wait = 2; ; wait = Math.min(2 * wait, 100)) {
    const a = status(await activities.getActivityById(id), 200, `${what}: GET /activities/${id}`);
    if (a.state !== 'processing' && a.state !== 'initialized') {
      want(a.state, 'completed', `${what}: state (activity_errors ${JSON.stringify(a.activity_errors)})`);
      want(a.percent_done, 100, `${what}: percent_done`);
      return a;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: activity ${id} still ${a.state} after 60 s`);
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

// members reads every page of GET /v3/contacts with the filters given,
// following the cursor of _links.next (the client has no cursor
// parameter: it is passed through the operation's axios options, as the
// client allows), and checks that include_count counts them.
async function members(filters, what) {
  const f = { status: undefined, email: undefined, lists: undefined, segmentId: undefined, tags: undefined, ...filters };
  const seen = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const options = cursor ? { params: { cursor } } : {};
    const body = status(await contacts.getAllContacts(f.status, f.email, f.lists, f.segmentId, f.tags,
      undefined, undefined, undefined, undefined, undefined, undefined, f.include, undefined, true, 50, options), 200, what);
    for (const c of body.contacts) {
      seen.push(c.email_address.address);
    }
    const next = body._links && body._links.next && body._links.next.href;
    if (!next) {
      want(seen.length, body.contacts_count, `${what}: contacts listed against contacts_count`);
      want(new Set(seen).size, seen.length, `${what}: a contact listed twice across pages`);
      return sorted(seen);
    }
    cursor = new URL(next, base).searchParams.get('cursor');
    assert.ok(cursor, `${what}: _links.next without a cursor: ${next}`);
  }
  throw new Error(`${what}: more than 100 pages`);
}

async function main() {
  step = 'custom fields';
  const plan = status(await fields.createCustomFields({ label: 'Plan', type: 'string' }), 201, 'create Plan');
  want([plan.label, plan.name, plan.type], ['Plan', 'Plan', 'string'], 'Plan');
  const renewal = status(await fields.createCustomFields({ label: 'Renews on', type: 'date' }), 201, 'create Renews on');
  want([renewal.name, renewal.type], ['Renews_on', 'date'], 'Renews on');
  const renamed = status(await fields.updateCustomField(renewal.custom_field_id, { label: 'Renews on', type: 'date' }), 200, 'update Renews on');
  want(renamed.custom_field_id, renewal.custom_field_id, 'updated field id');
  want(status(await fields.getCustomField(plan.custom_field_id), 200, 'get Plan').label, 'Plan', 'get Plan');
  const allFields = status(await fields.getAllCustomFields(100), 200, 'list fields').custom_fields;
  want(sorted(allFields.map((f) => f.custom_field_id)), sorted([plan.custom_field_id, renewal.custom_field_id]), 'listed fields');

  step = 'lists';
  const customers = status(await lists.createList({ name: 'Customers', favorite: true, description: 'Paying customers' }), 201, 'create Customers');
  want([customers.name, customers.favorite, customers.description], ['Customers', true, 'Paying customers'], 'Customers');
  const news = status(await lists.createList({ name: 'Newsletter' }), 201, 'create Newsletter');
  const news2 = status(await lists.updateList(news.list_id, { name: 'Monthly newsletter', favorite: false, description: 'Once a month' }), 200, 'update Newsletter');
  want([news2.name, news2.description], ['Monthly newsletter', 'Once a month'], 'updated Newsletter');
  want(status(await lists.getList(customers.list_id), 200, 'get Customers').name, 'Customers', 'get Customers');

  step = 'tags';
  const gold = status(await tags.postTag({ name: 'Gold', tag_source: 'ESTY' }), 201, 'create Gold');
  want([gold.name, gold.tag_source], ['Gold', 'ESTY'], 'Gold');
  const vip = status(await tags.postTag({ name: 'VIP' }), 201, 'create VIP');
  want(status(await tags.putTag(vip.tag_id, { name: 'V.I.P.' }), 200, 'rename VIP').name, 'V.I.P.', 'renamed VIP');
  want(status(await tags.getTag(vip.tag_id), 200, 'get VIP').name, 'V.I.P.', 'get VIP');

  step = 'contacts';
  const cf = (field, value) => ({ custom_field_id: field.custom_field_id, value });
  const ada = status(await contacts.createContact({
    email_address: { address: 'ada@example.com', permission_to_send: 'implicit' },
    first_name: 'Ada', last_name: 'Lovelace', job_title: 'Analyst', company_name: 'Engines Ltd', create_source: 'Account',
    custom_fields: [cf(plan, 'pro'), cf(renewal, '2027-01-15')],
    list_memberships: [customers.list_id], taggings: [gold.tag_id],
    phone_numbers: [{ phone_number: '+44 20 7946 0000', kind: 'work' }],
    street_addresses: [{ kind: 'home', street: '12 St James Sq', city: 'London', postal_code: 'SW1Y 4JH', country: 'GB' }],
  }), 201, 'create ada');
  modelled('ada@example.com', { plan: 'pro', lists: [customers.list_id], tags: [gold.tag_id] });
  const bob = status(await contacts.createContact({
    email_address: { address: 'bob@example.com', permission_to_send: 'implicit' }, first_name: 'Bob', create_source: 'Account',
    custom_fields: [cf(plan, 'free')], list_memberships: [news.list_id],
  }), 201, 'create bob');
  modelled('bob@example.com', { plan: 'free', lists: [news.list_id] });

  const got = status(await contacts.getContactById(ada.contact_id, 'custom_fields,list_memberships,taggings,phone_numbers,street_addresses'), 200, 'get ada');
  want([got.email_address.address, got.first_name, got.last_name, got.job_title, got.company_name],
    ['ada@example.com', 'Ada', 'Lovelace', 'Analyst', 'Engines Ltd'], 'ada');
  want(sorted(got.custom_fields.map((f) => `${f.custom_field_id}=${f.value}`)),
    // A date field's value reads back as an ISO-8601 timestamp
    // (docs/constantcontact.md, "One contact, two faces").
    sorted([`${plan.custom_field_id}=pro`, `${renewal.custom_field_id}=2027-01-15T00:00:00.000Z`]), 'ada custom_fields');
  want(got.list_memberships, [customers.list_id], 'ada list_memberships');
  want(got.taggings, [gold.tag_id], 'ada taggings');
  want(got.phone_numbers.map((p) => [p.phone_number, p.kind]), [['+44 20 7946 0000', 'work']], 'ada phone_numbers');
  want(got.street_addresses.map((a) => [a.street, a.city, a.postal_code, a.kind]), [['12 St James Sq', 'London', 'SW1Y 4JH', 'home']], 'ada street_addresses');

  // Bob is renamed, becomes pro, joins Customers and is tagged V.I.P.
  const bob2 = status(await contacts.updateContact(bob.contact_id, {
    email_address: { address: 'bob@example.com' }, first_name: 'Robert', update_source: 'Contact',
    custom_fields: [cf(plan, 'pro')], list_memberships: [customers.list_id, news.list_id], taggings: [vip.tag_id],
  }), 200, 'update bob');
  want(bob2.first_name, 'Robert', 'updated bob');
  modelled('bob@example.com', { plan: 'pro', lists: [customers.list_id, news.list_id], tags: [vip.tag_id] });

  // The sign-up form creates cy, then updates her: her lists are added to.
  const cy = status(await contacts.createOrUpdateContact({
    email_address: 'cy@example.com', first_name: 'Cy', list_memberships: [news.list_id], custom_fields: [cf(plan, 'free')],
  }), 201, 'sign up cy');
  want(cy.action, 'created', 'sign up cy');
  const cyAgain = status(await contacts.createOrUpdateContact({
    email_address: 'cy@example.com', last_name: 'Young', list_memberships: [customers.list_id],
  }), 200, 'sign up cy again');
  want([cyAgain.action, cyAgain.contact_id], ['updated', cy.contact_id], 'sign up cy again');
  modelled('cy@example.com', { plan: 'free', lists: [news.list_id, customers.list_id] });
  const cyRead = status(await contacts.getContactById(cy.contact_id, 'list_memberships'), 200, 'get cy');
  want([cyRead.first_name, cyRead.last_name, sorted(cyRead.list_memberships)], ['Cy', 'Young', sorted([news.list_id, customers.list_id])], 'cy after the sign-up forms');

  // Filters of GET /v3/contacts.
  want(await members({ email: 'ada@example.com' }, 'email filter'), ['ada@example.com'], 'email filter');
  want(await members({ lists: customers.list_id }, 'lists filter'), emailsWhere((c) => c.lists.has(customers.list_id)), 'lists filter');
  want(await members({ tags: vip.tag_id }, 'tags filter'), emailsWhere((c) => c.tags.has(vip.tag_id)), 'tags filter');
  const counts = status(await contacts.getContactCounts(), 200, 'contact counts');
  want(counts.total, 3, 'counts total');

  step = 'JSON import';
  const imported = [];
  for (let i = 0; i < 120; i++) {
    const email = `imp${String(i).padStart(3, '0')}@example.com`;
    const p = i % 3 === 0 ? 'pro' : 'free';
    imported.push({ email, first_name: `Imp${i}`, 'cf:Plan': p });
    modelled(email, { plan: p, lists: [news.list_id] });
  }
  const imp = status(await activities.createImportJSONActivity({ import_data: imported, list_ids: [news.list_id] }), 201, 'contacts_json_import');
  const impDone = await waitActivity(imp.activity_id, 'contacts_json_import');
  want(impDone.status.person_count, 120, 'import person_count');
  const listed = status(await activities.getAllActivities(50, 'completed'), 200, 'GET /activities').activities;
  assert.ok(listed.some((a) => a.activity_id === imp.activity_id), `the import is not among the completed activities: ${JSON.stringify(listed)}`);
  const newsCount = status(await lists.getList(news.list_id, 'all'), 200, 'get Newsletter').membership_count;
  want(newsCount, emailsWhere((c) => c.lists.has(news.list_id)).length, 'Newsletter membership_count');

  step = 'tag activities';
  // Every Newsletter member but bob is tagged Gold; then cy is untagged.
  const tagAdd = status(await activities.createTagAddContactActivity({
    source: { list_ids: [news.list_id] }, exclude: { contact_ids: [bob.contact_id] }, tag_ids: [gold.tag_id],
  }), 201, 'contacts_taggings_add');
  await waitActivity(tagAdd.activity_id, 'contacts_taggings_add');
  for (const [email, c] of model) {
    if (c.lists.has(news.list_id) && email !== 'bob@example.com') c.tags.add(gold.tag_id);
  }
  const tagRemove = status(await activities.createTagRemoveActivity({
    source: { contact_ids: [cy.contact_id] }, tag_ids: [gold.tag_id],
  }), 201, 'contacts_taggings_remove');
  await waitActivity(tagRemove.activity_id, 'contacts_taggings_remove');
  model.get('cy@example.com').tags.delete(gold.tag_id);
  const tagCounts = status(await tags.getAllTags(500, true), 200, 'list tags').tags;
  want(Object.fromEntries(tagCounts.map((t) => [t.name, t.contacts_count])),
    { Gold: emailsWhere((c) => c.tags.has(gold.tag_id)).length, 'V.I.P.': 1 }, 'tags contacts_count');

  step = 'segments';
  const criteria = (group, type = 'or') => JSON.stringify({ version: '1.0.0', criteria: { type, group } });
  const byPlan = status(await segments.createSegment({
    name: 'Pro plan',
    segment_criteria: criteria([{ source: 'contact', field: 'custom_field', param: plan.custom_field_id, op: 'eq', const_value: 'pro' }], 'and'),
  }), 201, 'segment by custom field');
  const byList = status(await segments.createSegment({
    name: 'Customers',
    segment_criteria: criteria([{ source: 'list_membership', field: 'list_id', op: 'contains-any', const_value: customers.list_id }]),
  }), 201, 'segment by list');
  const byTag = status(await segments.createSegment({
    name: 'Gold',
    segment_criteria: criteria([{ source: 'tags', field: 'tag_id', op: 'contains-any', const_value: gold.tag_id }]),
  }), 201, 'segment by tag');
  status(await segments.updateSegmentName(byTag.segment_id, { name: 'Gold customers' }), 200, 'rename segment');
  want(status(await segments.getSegmentById(byTag.segment_id), 200, 'get segment').name, 'Gold customers', 'renamed segment');
  const all = status(await segments.getAllSegments(), 200, 'list segments').segments;
  want(sorted(all.map((s) => s.segment_id)), sorted([byPlan.segment_id, byList.segment_id, byTag.segment_id]), 'listed segments');

  const broken = process.env.SEGMENTD_CTCT_BREAK === '1';
  const checkSegments = async (when) => {
    const expectPro = emailsWhere((c) => c.plan === 'pro');
    if (broken) expectPro.push('nobody@example.com');
    want(await members({ segmentId: String(byPlan.segment_id) }, `${when}: members of Pro plan`), sorted(expectPro), `${when}: members of Pro plan`);
    want(await members({ segmentId: String(byList.segment_id) }, `${when}: members of Customers`),
      emailsWhere((c) => c.lists.has(customers.list_id)), `${when}: members of Customers`);
    want(await members({ segmentId: String(byTag.segment_id) }, `${when}: members of Gold`),
      emailsWhere((c) => c.tags.has(gold.tag_id)), `${when}: members of Gold`);
  };
  await checkSegments('after the writes');

  step = 'deletes';
  // Ada is deleted; bob and the first ten imported contacts by a
  // contact_delete activity; segments and filters stop listing them.
  status(await contacts.deleteContact(ada.contact_id), 204, 'delete ada');
  model.delete('ada@example.com');
  const doomed = status(await contacts.getAllContacts(undefined, undefined, news.list_id, undefined, undefined,
    undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 500), 200, 'Newsletter members')
    .contacts.filter((c) => /^imp00\d@/.test(c.email_address.address));
  want(doomed.length, 10, 'imported contacts to delete');
  const del = status(await activities.createDeleteActivity({ contact_ids: [bob.contact_id, ...doomed.map((c) => c.contact_id)] }), 201, 'contact_delete');
  await waitActivity(del.activity_id, 'contact_delete');
  model.delete('bob@example.com');
  for (const c of doomed) model.delete(c.email_address.address);
  await checkSegments('after the deletes');
  want(await members({ lists: news.list_id }, 'Newsletter after the deletes'), emailsWhere((c) => c.lists.has(news.list_id)), 'Newsletter after the deletes');

  // The tag Gold's delete untags its contacts and empties its segment;
  // the list Customers' delete empties the segment by list.
  const tagDel = status(await tags.deleteTag(gold.tag_id), 202, 'delete Gold');
  await waitActivity(tagDel.activity_id, 'tag delete');
  for (const c of model.values()) c.tags.delete(gold.tag_id);
  const listDel = status(await lists.deleteList(customers.list_id), 202, 'delete Customers');
  await waitActivity(listDel.activity_id, 'list delete');
  for (const c of model.values()) c.lists.delete(customers.list_id);
  await checkSegments('after the tag and list deletes');
  want(sorted(status(await lists.getAllLists(50), 200, 'list lists').lists.map((l) => l.name)), ['Monthly newsletter'], 'lists left');
  want(status(await tags.getAllTags(500), 200, 'tags left').tags.map((t) => t.name), ['V.I.P.'], 'tags left');

  status(await fields.deleteCustomField(renewal.custom_field_id), 204, 'delete Renews on');
  want(status(await fields.getAllCustomFields(100), 200, 'fields left').custom_fields.map((f) => f.name), ['Plan'], 'fields left');
  status(await segments.deleteSegment(byList.segment_id), 204, 'delete segment');
  want(sorted(status(await segments.getAllSegments(), 200, 'segments left').segments.map((s) => s.segment_id)),
    sorted([byPlan.segment_id, byTag.segment_id]), 'segments left');
}

main().then(() => {
  console.log('ok: the Constant Contact integration ran through ctct-api-client');
}, (err) => {
  if (err.response) {
    console.error(`${step}: ${err.config.method.toUpperCase()} ${err.config.url}: HTTP ${err.response.status} ${JSON.stringify(err.response.data)}`);
  } else {
    console.error(`${step}: ${err.message}`);
  }
  process.exit(1);
});
