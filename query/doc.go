// Package query is segmentd's query-language compiler: it scans, parses,
// checks, evaluates and translates the two SendGrid query dialects into one
// shared AST.
//
//   - SGQL, the bare predicates of Segments v1 query_dsl and of
//     POST /v3/marketing/contacts/search (ParseSGQL);
//   - Segments 2.0 SQL, the SELECT subset of /v3/marketing/segments/2.0
//     (ParseSQL).
//
// The pipeline is scanner → parser → AST (with positions) → Check against an
// account's Catalog → either Compile (a Go closure over a Record, the
// semantics of record) or GenerateSQL (a parameterised statement for a SQL
// store, tested against the evaluator).
//
// The package is pure: it imports only the standard library, never net/http
// or database/sql, so the membership engine, the stores and the API faces can
// all share one meaning of every query. It holds no package-level mutable
// state beyond a sync.Pool of evaluation buffers (reused scratch space that
// carries nothing from one call to the next). The language is described in
// docs/query-language.md.
package query
