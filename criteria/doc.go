// Package criteria reads Constant Contact's segment_criteria, the JSON
// document a V3 segment carries as a string:
//
//	{"version":"1.0.0","criteria":{"type":"and","group":[
//	  {"source":"tracking","field":"opened","op":"contains-any",
//	   "const_value":"last-n-campaigns","param":"5"}]}}
//
// Parse validates a document (its shape, sources, fields, operators,
// values and limits) and names the JSON path of the first fault it finds;
// Criteria.Select translates it into the query package's AST, a Segments
// 2.0 statement over contact_data with event_data sub-queries, so the
// checker, the Go evaluator (the semantics of record), the membership
// engine and the SQL generator handle it unchanged. The grammar and every
// decision taken where Constant Contact is silent are in
// docs/constantcontact-criteria.md.
//
// The package imports only the standard library and package query (a test
// checks it): no HTTP, no SQL, no domain types.
package criteria
