// A Constant Contact integration driven through Constant Contact's own
// generated TypeScript client (npm package ctct-api-client, pinned in
// package.json) against segmentd: custom fields, lists, tags, contacts
// (create, get, update, filters, the sign-up form, errors 404 and 409 in
// Constant Contact's envelope), JSON and CSV imports, list-membership and
// tag activities polled to completion, segments by custom field, list and
// tag (created, renamed, updated) with every page of their members, a
// contact export downloaded, and deletes, one by one and by activities.
// It keeps a model of what it wrote and checks every answer against it.
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
const { File } = require('node:buffer'); // a global only from Node 20; Debian 12 has 18
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

// rejects checks that an operation failed with the HTTP status given and
// Constant Contact's error envelope, [{error_key, error_message}].
async function rejects(promise, code, what) {
  try {
    await promise;
  } catch (err) {
    if (!err.response) throw err;
    want(err.response.status, code, `${what}: status`);
    const body = err.response.data;
    assert.ok(Array.isArray(body) && body.length > 0 && typeof body[0].error_key === 'string' && typeof body[0].error_message === 'string',
      `${what}: not Constant Contact's error envelope: ${JSON.stringify(body)}`);
    return body;
  }
  throw new Error(`${what}: succeeded, want HTTP ${code}`);
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
  await rejects(lists.createList({ name: 'CUSTOMERS' }), 409, 'a list named as another ignoring case');
  // An integration finds its list by name.
  const byName = status(await lists.getAllLists(undefined, true, undefined, 'Monthly newsletter'), 200, 'the list by name');
  want([byName.lists_count, byName.lists.map((l) => l.list_id)], [1, [news.list_id]], 'the list by name');

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

  await rejects(contacts.getContactById('0b5e4b5e-7f3a-4d0e-9c1a-2f4e6d8a0b1c'), 404, 'an unknown contact');
  await rejects(contacts.createContact({ email_address: { address: 'ADA@example.com' }, create_source: 'Account' }), 409, 'a second contact with ada\'s email');

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

  step = 'CSV import';
  // The generated client posts the file as multipart/form-data.
  const csv = 'email,first_name,cf:Plan\ncsv1@example.com,Csv,pro\ncsv2@example.com,Csv Two,free\n';
  const fileImp = status(await activities.createCSVImportActivity(new File([csv], 'contacts.csv', { type: 'text/csv' }), news.list_id), 201, 'contacts_file_import');
  want((await waitActivity(fileImp.activity_id, 'contacts_file_import')).status.person_count, 2, 'file import person_count');
  modelled('csv1@example.com', { plan: 'pro', lists: [news.list_id] });
  modelled('csv2@example.com', { plan: 'free', lists: [news.list_id] });

  step = 'list membership activities';
  // Both CSV contacts join Customers by id; then csv2 leaves it.
  const csvIds = {};
  for (const email of ['csv1@example.com', 'csv2@example.com']) {
    const found = status(await contacts.getAllContacts(undefined, email), 200, `find ${email}`).contacts;
    want(found.length, 1, `contacts with ${email}`);
    csvIds[email] = found[0].contact_id;
  }
  const listAdd = status(await activities.createListAddActivity({
    source: { contact_ids: Object.values(csvIds) }, list_ids: [customers.list_id],
  }), 201, 'add_list_memberships');
  await waitActivity(listAdd.activity_id, 'add_list_memberships');
  for (const email of Object.keys(csvIds)) model.get(email).lists.add(customers.list_id);
  const listRemove = status(await activities.createListRemoveActivity({
    source: { contact_ids: [csvIds['csv2@example.com']] }, list_ids: [customers.list_id],
  }), 201, 'remove_list_memberships');
  await waitActivity(listRemove.activity_id, 'remove_list_memberships');
  model.get('csv2@example.com').lists.delete(customers.list_id);
  const withCounts = status(await lists.getAllLists(50, true, 'all'), 200, 'lists with counts').lists;
  want(Object.fromEntries(withCounts.map((l) => [l.name, l.membership_count])), {
    Customers: emailsWhere((c) => c.lists.has(customers.list_id)).length,
    'Monthly newsletter': emailsWhere((c) => c.lists.has(news.list_id)).length,
  }, 'lists membership_count');

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

  // The segment by custom field is changed to the free plan and back.
  const planCriteria = (value) => criteria([{ source: 'contact', field: 'custom_field', param: plan.custom_field_id, op: 'eq', const_value: value }], 'and');
  const asFree = status(await segments.updateSegment(byPlan.segment_id, { name: 'Free plan', segment_criteria: planCriteria('free') }), 200, 'update segment');
  want([asFree.name, asFree.segment_criteria], ['Free plan', planCriteria('free')], 'updated segment');
  want(await members({ segmentId: String(byPlan.segment_id) }, 'members of Free plan'), emailsWhere((c) => c.plan === 'free'), 'members of Free plan');
  status(await segments.updateSegment(byPlan.segment_id, { name: 'Pro plan', segment_criteria: planCriteria('pro') }), 200, 'update segment back');

  step = 'export';
  // The members of Customers exported as CSV, downloaded through the
  // client's getCSVExportFile.
  const exp = status(await activities.createExportActivity({ list_ids: [customers.list_id], fields: ['email_address', 'cf:Plan'] }), 201, 'contact_exports');
  const expDone = await waitActivity(exp.activity_id, 'contact_exports');
  const fileId = expDone._links.results.href.split('/').pop();
  const file = status(await activities.getCSVExportFile(fileId), 200, 'download the export');
  const rows = String(file).trim().split(/\r?\n/);
  want(rows.length - 1, emailsWhere((c) => c.lists.has(customers.list_id)).length, `rows of the export ${JSON.stringify(rows[0])}`);
  want(sorted(rows.slice(1).map((r) => r.split(',')[0])), emailsWhere((c) => c.lists.has(customers.list_id)), 'emails of the export');

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

  // A third tag goes by a contacts_tags_delete activity.
  const bronze = status(await tags.postTag({ name: 'Bronze' }), 201, 'create Bronze');
  const tagsDel = status(await activities.createTagDeleteActivity({ tag_ids: [bronze.tag_id] }), 201, 'contacts_tags_delete');
  await waitActivity(tagsDel.activity_id, 'contacts_tags_delete');
  await rejects(tags.getTag(bronze.tag_id), 404, 'a deleted tag');

  // A scratch list and field go by list_delete and custom_fields_delete.
  const scratchList = status(await lists.createList({ name: 'Scratch' }), 201, 'create list Scratch');
  const scratchField = status(await fields.createCustomFields({ label: 'Scratch', type: 'string' }), 201, 'create field Scratch');
  const listsDel = status(await activities.createListDeleteActivity({ list_ids: [scratchList.list_id] }), 201, 'list_delete');
  await waitActivity(listsDel.activity_id, 'list_delete');
  const fieldsDel = status(await activities.postCustomFieldDelete({ custom_field_ids: [scratchField.custom_field_id] }), 201, 'custom_fields_delete');
  await waitActivity(fieldsDel.activity_id, 'custom_fields_delete');
  await rejects(lists.getList(scratchList.list_id), 404, 'a deleted list');
  await rejects(fields.getCustomField(scratchField.custom_field_id), 404, 'a deleted custom field');

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
