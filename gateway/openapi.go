package gateway

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

type obj = map[string]any

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// openAPIPath turns a fiber path (/wallets/:id) into an OpenAPI one (/wallets/{id}).
func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

func str() obj              { return obj{"type": "string"} }
func integer() obj          { return obj{"type": "integer", "format": "int64"} }
func dateTime() obj         { return obj{"type": "string", "format": "date-time"} }
func ref(name string) obj   { return obj{"$ref": "#/components/schemas/" + name} }
func number() obj           { return obj{"type": "number"} }
func boolean() obj          { return obj{"type": "boolean"} }
func enum(v ...string) obj  { return obj{"type": "string", "enum": v} }
func nullable(o obj) obj    { o["nullable"] = true; return o }
func items(name string) obj { return object([]string{"items"}, obj{"items": arrayOf(name)}) }

// cursorPage is a page of a list paged by cursor: next_cursor is absent after the last page.
func cursorPage(name string) obj {
	return object([]string{"items"}, obj{"items": arrayOf(name), "next_cursor": str()})
}

// decimal is a non-negative amount with at most 3 decimals, sent as a JSON number or string
// and read from its text (never through a float).
func decimal(what string) obj {
	return obj{"oneOf": []obj{number(), str()}, "description": what + "; at most 3 decimals, e.g. 1.5 or \"1.5\""}
}

// secs is an exact count of unit-seconds (node-seconds or GPU-seconds): the hours beside it are
// this divided by 3600, rounded once to 3 decimals.
func secs(what string) obj {
	return obj{"type": "integer", "format": "int64", "description": what}
}
func arrayOf(name string) obj { return obj{"type": "array", "items": ref(name)} }
func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// captchaField is the solution of a captcha a 403 asked for (or send it in the header X-Captcha).
var captchaField = obj{"type": "string", "description": "solution of the challenge of a 403 captcha_required " +
	"(the ALTCHA widget's payload, or a Turnstile/hCaptcha token); the header X-Captcha may carry it instead"}

var schemas = obj{
	"Problem": object([]string{"type", "title", "status", "detail", "code"}, obj{
		"type": str(), "title": str(), "status": obj{"type": "integer"}, "detail": str(), "code": str(),
		"captcha": obj{"type": "object", "description": "with code captcha_required or captcha_invalid: the challenge to solve " +
			"(provider altcha: an ALTCHA challenge; turnstile or hcaptcha: the site_key of the widget)"}}),
	"RegisterRequest": object([]string{"email", "password"}, obj{"email": str(), "password": str(), "captcha": captchaField,
		"language": obj{"type": "string", "enum": []string{"zh-TW", "en"}, "description": "the account's language; default: the best match of Accept-Language, else none (the client's own)"}}),
	"LoginRequest":    object([]string{"email", "password"}, obj{"email": str(), "password": str(), "captcha": captchaField}),
	"RefreshRequest":  object(nil, obj{"refresh_token": str()}),
	"ResetRequest":    object([]string{"email"}, obj{"email": str(), "captcha": captchaField}),
	"ResetAccepted":   object([]string{"status", "message"}, obj{"status": enum("accepted"), "message": str()}),
	"PasswordReset":   object([]string{"token", "new_password"}, obj{"token": str(), "new_password": str()}),
	"PasswordRequest": object([]string{"current_password", "new_password"}, obj{"current_password": str(), "new_password": str()}),
	"Tokens": object([]string{"access_token", "refresh_token", "token_type", "expires_in"}, obj{
		"access_token": str(), "refresh_token": str(), "token_type": obj{"type": "string", "enum": []string{"Bearer"}}, "expires_in": integer()}),
	"User": object(nil, obj{"id": str(), "email": str(), "role": str(), "status": str(), "wallet_id": str(),
		"created_at": dateTime(), "updated_at": dateTime()}),
	"Me": object(nil, obj{"id": str(), "email": str(), "role": str(), "wallet_id": str(), "status": str()}),
	"UserPatch": object(nil, obj{"role": obj{"type": "string", "enum": []string{"admin", "operator", "service", "user"}},
		"status": obj{"type": "string", "enum": []string{"active", "suspended"}}}),
	"UserPage": object(nil, obj{"items": arrayOf("User"), "total": integer(), "page": integer(), "page_size": integer()}),
	"Wallet": object(nil, obj{"id": str(), "balance": integer(), "held": integer(), "available": integer(),
		"seq": integer(), "updated_at": dateTime()}),
	"Transaction": object(nil, obj{"id": str(), "wallet_id": str(), "seq": integer(),
		"type":   obj{"type": "string", "enum": []string{"deposit", "spend", "refund", "hold", "capture", "release", "adjust"}},
		"status": obj{"type": "string", "enum": []string{"pending", "success", "failed"}},
		"amount": integer(), "balance_delta": integer(), "held_delta": integer(), "balance_after": integer(),
		"held_after": integer(), "reference_id": str(), "hold_id": str(), "refund_of": str(),
		"expires_at": dateTime(), "reason": str(), "created_at": dateTime()}),
	"TransactionPage": object(nil, obj{"items": arrayOf("Transaction"), "next_cursor": str()}),
	"AmountRequest":   object([]string{"amount"}, obj{"amount": integer(), "reference_id": str()}),
	"HoldRequest":     object([]string{"amount", "expires_in_seconds"}, obj{"amount": integer(), "expires_in_seconds": integer(), "reference_id": str()}),
	"CaptureRequest":  object(nil, obj{"amount": obj{"type": "integer", "format": "int64", "description": "0 or absent: all"}, "reference_id": str()}),
	"AdjustRequest":   object([]string{"amount", "reason"}, obj{"amount": obj{"type": "integer", "format": "int64", "description": "signed"}, "reason": str()}),
	"AuditEntry": object(nil, obj{"id": str(), "actor_id": str(), "action": str(), "target_type": str(),
		"target_id": str(), "detail": obj{"type": "object"}, "ip": str(), "created_at": dateTime()}),
	"AuditPage": object(nil, obj{"items": arrayOf("AuditEntry"), "next_cursor": str()}),
	"Poem": object([]string{"number", "title", "lines", "level", "meanings"}, obj{"number": integer(), "title": str(),
		"lines": obj{"type": "array", "items": str(), "minItems": 4, "maxItems": 4}, "level": str(),
		"meanings": obj{"type": "object", "additionalProperties": str(), "description": "topic slug → traditional meaning; overall required"},
		"story":    str(), "uncertain": obj{"type": "boolean"}, "note": str()}),
	"PoemSet": object([]string{"slug", "name", "language", "poems"}, obj{"slug": str(), "name": str(), "description": str(),
		"language": str(), "poems": arrayOf("Poem")}),
	"PoemSetList": object(nil, obj{"items": obj{"type": "array", "items": object(nil, obj{"slug": str(), "name": str(),
		"description": str(), "language": str(), "poems": integer(), "bundled": obj{"type": "boolean"}, "updated_at": dateTime()})}}),
	"DrawRequest": object([]string{"set"}, obj{"set": str(), "confirm": obj{"type": "boolean", "description": "throw moon blocks until a 聖筊"}}),
	"Draw": object(nil, obj{"id": str(), "user_id": str(), "set": str(), "number": integer(), "confirmed": obj{"type": "boolean"},
		"throws": obj{"type": "array"}, "created_at": dateTime(), "poem": ref("Poem")}),
	"DrawPage": object(nil, obj{"items": arrayOf("Draw"), "next_cursor": str()}),
	"JobRequest": object([]string{"type", "question"}, obj{"type": obj{"type": "string", "enum": []string{"interpretation"}},
		"draw_id": str(), "set": str(), "number": integer(), "question": str(),
		"topic":   obj{"type": "string", "enum": []string{"overall", "family", "marriage", "wealth", "career", "health", "travel", "lawsuit", "lost"}},
		"context": str(), "language": obj{"type": "string", "enum": []string{"zh-TW", "en"}}}),
	"JobAccepted": object([]string{"job_id", "status"}, obj{"job_id": str(), "status": str()}),
	"Job": object(nil, obj{"id": str(), "user_id": str(), "wallet_id": str(), "type": str(), "status": str(),
		"params": obj{"type": "object"}, "price": integer(), "hold_id": str(), "settled": obj{"type": "boolean"},
		"settlement": str(), "attempts": integer(), "max_attempts": integer(), "next_attempt_at": dateTime(),
		"error_code": str(), "error_detail": str(), "expire_at": dateTime(), "created_at": dateTime(),
		"started_at": dateTime(), "finished_at": dateTime(), "updated_at": dateTime()}),
	"JobPage":   object(nil, obj{"items": arrayOf("Job"), "next_cursor": str()}),
	"JobResult": object(nil, obj{"job_id": str(), "result": obj{"type": "object"}, "model": str(), "retention_until": dateTime(), "created_at": dateTime()}),

	// Compute accounting.
	"SharedWalletRequest": object([]string{"name"}, obj{"name": str()}),
	"SharedWallet":        object(nil, obj{"id": str(), "kind": enum("shared"), "name": str()}),
	"Source": object(nil, obj{"id": str(), "name": str(), "dir": str(), "glob": str(),
		"format": enum("slurm-sacct", "slurm-jobcomp", "pbs"), "cluster": str(),
		"interval": obj{"type": "string", "description": "a Go duration, e.g. 30s, 5m0s"}, "interval_seconds": integer(),
		"timezone": str(), "enabled": boolean(), "created_at": dateTime(),
		"columns": obj{"type": "array", "items": str(), "description": "columns of header-less sacct files; [] when the files have a header"}}),
	"SourceList": cursorPage("Source"),
	"SourceRequest": object([]string{"name", "dir", "format", "cluster"}, obj{"name": str(),
		"dir":      obj{"type": "string", "description": "a directory on the node"},
		"glob":     obj{"type": "string", "description": "default *"},
		"format":   enum("slurm-sacct", "slurm-jobcomp", "pbs"),
		"cluster":  str(),
		"interval": obj{"type": "string", "description": "a Go duration (30s, 5m) of whole seconds; default 30s"}, "interval_seconds": integer(),
		"timezone": obj{"type": "string", "description": "of the logs' times; default UTC"},
		"enabled":  obj{"type": "boolean", "description": "default true"},
		"columns":  obj{"type": "array", "items": str(), "description": "slurm-sacct only: the columns of header-less files (sacct -n -P), in order"}}),
	"SourcePatch": object(nil, obj{"dir": str(), "glob": str(), "timezone": str(),
		"interval": obj{"type": "string", "description": "a Go duration (30s, 5m)"}, "interval_seconds": integer(), "enabled": boolean(),
		"columns": obj{"type": "array", "items": str()}}),
	"ScanRequested": object([]string{"source_id", "scan"}, obj{"source_id": str(), "scan": enum("requested")}),
	"ProcessedFile": object(nil, obj{"path": str(), "size": integer(), "mtime": dateTime(),
		"sha256": obj{"type": "string", "description": "hex"}, "offset": integer(), "lines": integer(), "records": integer(),
		"errors": integer(), "status": enum("done", "partial", "failed"), "updated_at": dateTime(),
		"cluster_mismatches": obj{"type": "integer", "description": "records whose file names another cluster than the source's (stored under the source's)"}}),
	"ProcessedFileList": object([]string{"items"}, obj{"source_id": str(), "items": arrayOf("ProcessedFile"), "next_cursor": str()}),
	"IngestError":       object(nil, obj{"source": str(), "file": str(), "line": integer(), "message": str(), "created_at": dateTime()}),
	"IngestErrorList":   cursorPage("IngestError"),
	"Mapping": object(nil, obj{"id": str(), "cluster": str(), "user": str(), "account": str(), "group": str(),
		"wallet_id": obj{"type": "string", "description": "\"\" for an exclusion"}, "note": str(), "created_at": dateTime(),
		"exclude": boolean()}),
	"MappingList": cursorPage("Mapping"),
	"MappingRequest": object(nil, obj{"cluster": obj{"type": "string", "description": "\"\" = every cluster"},
		"user": str(), "account": str(), "group": str(),
		"wallet":  obj{"type": "string", "description": "a wallet id or a shared wallet's name"},
		"exclude": obj{"type": "boolean", "description": "no wallet: matching usage is tracked, never charged"}, "note": str()}),
	"MappingCreated": object([]string{"mapping", "reassigned"}, obj{"mapping": ref("Mapping"),
		"reassigned": object(nil, obj{"records": integer(), "charges": integer(), "points": integer()})}),
	"Rate": object(nil, obj{"id": str(), "cluster": str(), "partition": str(),
		"node_hour_millipoints": integer(), "gpu_hour_millipoints": integer(), "node_hour_points": number(), "gpu_hour_points": number(),
		"effective_from": dateTime(), "created_at": dateTime()}),
	"RateList": cursorPage("Rate"),
	"RateRequest": object(nil, obj{"cluster": str(), "partition": str(),
		"node_hour_points": decimal("points per CPU node-hour"), "gpu_hour_points": decimal("points per GPU core-hour"),
		"effective_from": obj{"type": "string", "description": "RFC 3339 or YYYY-MM-DD (UTC); default now"}}),
	"Quota": object(nil, obj{"id": str(), "wallet_id": str(), "period": enum("month", "quarter", "year", "total"),
		"node_hours": obj{"type": "number", "description": "0 = no limit"}, "gpu_core_hours": obj{"type": "number", "description": "0 = no limit"},
		"period_start": dateTime(), "period_end": nullable(dateTime()),
		"used_node_hours": number(), "used_gpu_core_hours": number(),
		"used_node_seconds": secs("node-seconds used in the period, exact"), "used_gpu_seconds": secs("GPU-seconds used in the period, exact"),
		"node_hours_percent": nullable(number()), "gpu_core_hours_percent": nullable(number()),
		"created_at": dateTime(), "updated_at": dateTime()}),
	"QuotaList": cursorPage("Quota"),
	"QuotaRequest": object([]string{"wallet", "period"}, obj{"wallet": obj{"type": "string", "description": "a wallet id or a shared wallet's name"},
		"period": enum("month", "quarter", "year", "total"), "node_hours": decimal("node-hours; 0 or absent = no limit"),
		"gpu_core_hours": decimal("GPU core-hours; 0 or absent = no limit")}),
	"QuotaEvent": object(nil, obj{"quota_id": str(), "wallet_id": str(), "period": str(), "period_start": dateTime(),
		"metric": enum("node_hours", "gpu_core_hours"), "threshold": integer(), "used": number(), "quota": number(),
		"used_seconds": nullable(secs("the exact usage that crossed the threshold; null for a crossing recorded before usage was kept in seconds")),
		"created_at":   dateTime()}),
	"QuotaEventList": cursorPage("QuotaEvent"),
	"Charge": object(nil, obj{"id": integer(), "wallet_id": str(), "points": integer(), "records": integer(),
		"node_hours": number(), "gpu_core_hours": number(),
		"node_seconds": nullable(secs("exact; null for a charge made before usage was kept in seconds")),
		"gpu_seconds":  nullable(secs("exact; null for a charge made before usage was kept in seconds")),
		"origin":       str(), "status": enum("pending", "charged", "unpaid"),
		"charged_points": integer(), "transaction_id": str(), "created_at": dateTime(), "settled_at": dateTime()}),
	"ChargeList":      cursorPage("Charge"),
	"ClusterUser":     object(nil, obj{"cluster": str(), "login": str(), "user_id": str(), "email": str(), "first_seen": dateTime()}),
	"ClusterUserList": cursorPage("ClusterUser"),
	"ClusterUserLink": object([]string{"user_id"}, obj{"user_id": obj{"type": "string", "description": "a user id, or \"\" to unlink"}}),
	"UsageSum": object(nil, obj{"bucket": obj{"type": "string", "description": "YYYY-MM-DD: the first day of the bucket"},
		"key":  obj{"type": "string", "description": "the dimension's value; for wallets an id, \"\" (unassigned) or excluded"},
		"name": str(), "jobs": integer(), "cpu_jobs": integer(), "gpu_jobs": integer(),
		"node_hours": number(), "core_hours": number(), "points": number(),
		"node_seconds": secs("CPU jobs' node-seconds, exact"), "gpu_seconds": secs("GPU jobs' GPU-seconds, exact")}),
	"Overview": object(nil, obj{"from": dateTime(), "to": dateTime(), "total_node_hours": number(), "total_core_hours": number(),
		"total_node_seconds": secs("CPU jobs' node-seconds, exact"), "total_gpu_seconds": secs("GPU jobs' GPU-seconds, exact"),
		"jobs": integer(), "cpu_jobs": integer(), "gpu_jobs": integer(), "points": number(), "unassigned": ref("UsageSum"),
		"top_wallets": arrayOf("UsageSum"), "top_users": arrayOf("UsageSum"), "top_partitions": arrayOf("UsageSum")}),
	"MyUsage": object(nil, obj{"from": dateTime(), "to": dateTime(),
		"bucket": obj{"type": "string", "enum": []string{"", "day", "week", "month"}},
		"logins": arrayOf("ClusterUser"), "rows": arrayOf("LoginUsage")}),
	"LoginUsage": object(nil, obj{"cluster": str(), "login": str(),
		"bucket": obj{"type": "string", "description": "YYYY-MM-DD: the first day of the bucket"},
		"jobs":   integer(), "cpu_jobs": integer(), "gpu_jobs": integer(),
		"node_hours": number(), "core_hours": number(), "points": number(),
		"node_seconds": secs("CPU jobs' node-seconds, exact"), "gpu_seconds": secs("GPU jobs' GPU-seconds, exact")}),
	"UsageReport": object(nil, obj{"group_by": enum("wallet", "user", "group", "account", "partition", "cluster"),
		"bucket": obj{"type": "string", "enum": []string{"", "day", "week", "month"}}, "from": dateTime(), "to": dateTime(),
		"rows": arrayOf("UsageSum")}),
}

var (
	openAPIOnce sync.Once
	openAPIDoc  obj
)

// openAPI is the OpenAPI 3 document of every route, built from the route table.
func openAPI() obj {
	openAPIOnce.Do(func() {
		problem := obj{"description": "problem", "content": obj{"application/problem+json": obj{"schema": ref("Problem")}}}
		paths := obj{
			"/healthz":             obj{"get": obj{"summary": "Process alive", "responses": obj{"200": obj{"description": "ok"}}}},
			"/readyz":              obj{"get": obj{"summary": "Database reachable and cluster joined", "responses": obj{"200": obj{"description": "ready"}, "503": problem}}},
			"/metrics":             obj{"get": obj{"summary": "Prometheus metrics", "responses": obj{"200": obj{"description": "text exposition format"}}}},
			"/api/v1/openapi.json": obj{"get": obj{"summary": "This document", "responses": obj{"200": obj{"description": "OpenAPI 3 document"}}}},
		}
		for _, r := range apiRoutes {
			op := obj{"summary": r.summary, "responses": obj{"default": problem}}
			resp := obj{"description": "success"}
			if r.result != "" {
				resp["content"] = obj{"application/json": obj{"schema": ref(r.result)}}
			}
			op["responses"].(obj)[itoa(r.status)] = resp
			if r.roles != nil {
				op["security"] = []obj{{"bearer": []string{}}}
				if r.roles[0] != roleAny {
					op["x-roles"] = r.roles
				}
			}
			if r.body != "" {
				op["requestBody"] = obj{"required": !r.bodyOptional, "content": obj{"application/json": obj{"schema": ref(r.body)}}}
			}
			var params []obj
			for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
				params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": str()})
			}
			if r.method == "GET" { // a list route's path may be shared with its create route
				for _, q := range routeQueries[r.path] {
					params = append(params, obj{"name": q, "in": "query", "schema": str()})
				}
			}
			if r.idempotent {
				params = append(params, obj{"name": "Idempotency-Key", "in": "header", "schema": str(),
					"description": "1 to 200 bytes of printable ASCII (a UUID is a good key), not starting with a namespace of the system's own (auto:, cli:, expire:, job-hold:, job-capture:, job-release:, usage-charge:, payment:, payment-refund: → 400 reserved_idempotency_key); a replay returns the first response; reuse with another body is 422 idempotency_conflict"})
			}
			if params != nil {
				op["parameters"] = params
			}
			p := openAPIPath(r.path)
			item, _ := paths[p].(obj)
			if item == nil {
				item = obj{}
				paths[p] = item
			}
			item[strings.ToLower(r.method)] = op
		}
		openAPIDoc = obj{
			"openapi": "3.0.3",
			"info":    obj{"title": "Divine Whispers API", "version": "v1"},
			"paths":   paths,
			"components": obj{
				"schemas":         schemas,
				"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			},
		}
	})
	return openAPIDoc
}

func itoa(n int) string { return strconv.Itoa(n) }
