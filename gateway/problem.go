package gateway

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	dw "github.com/divinewhispers/dw"
)

// Problem is an RFC 9457 problem document with a stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

var kindStatus = map[dw.Kind]int{
	dw.KindInvalid:           fiber.StatusBadRequest,
	dw.KindNotFound:          fiber.StatusNotFound,
	dw.KindConflict:          fiber.StatusConflict,
	dw.KindInsufficientFunds: fiber.StatusConflict,
	dw.KindPaymentRequired:   fiber.StatusPaymentRequired,
	dw.KindUnauthorized:      fiber.StatusUnauthorized,
	dw.KindForbidden:         fiber.StatusForbidden,
	dw.KindRateLimited:       fiber.StatusTooManyRequests,
	dw.KindUnavailable:       fiber.StatusServiceUnavailable,
	dw.KindInternal:          fiber.StatusInternalServerError,
}

// codeStatus overrides the kind's status for finer codes.
var codeStatus = map[string]int{
	"idempotency_conflict": fiber.StatusUnprocessableEntity,
}

// fiberCodes names the errors fiber itself raises (unknown route, body too large, ...).
var fiberCodes = map[int]string{
	fiber.StatusNotFound:                    "route_not_found",
	fiber.StatusMethodNotAllowed:            "method_not_allowed",
	fiber.StatusRequestEntityTooLarge:       "body_too_large",
	fiber.StatusBadRequest:                  "bad_request",
	fiber.StatusUnsupportedMediaType:        "unsupported_media_type",
	fiber.StatusRequestTimeout:              "timeout",
	fiber.StatusRequestHeaderFieldsTooLarge: "headers_too_large",
}

func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p := Problem{Type: "about:blank"}
		var fe *fiber.Error
		if errors.As(err, &fe) {
			p.Status, p.Detail = fe.Code, fe.Message
			if fe.Code == fiber.StatusBadRequest {
				// fasthttp's parse errors quote the raw request, headers and tokens included.
				p.Detail = "the request line or a header could not be read: header values are printable ASCII"
			}
			p.Code = fiberCodes[fe.Code]
			if p.Code == "" {
				p.Code = "http_error"
			}
		} else {
			k := dw.KindOf(err)
			p.Code, p.Detail = dw.CodeOf(err), dw.MessageOf(err)
			p.Status = kindStatus[k]
			if s, ok := codeStatus[p.Code]; ok {
				p.Status = s
			}
			// A refusal under load (busy) is counted by metrics, not logged: an anonymous flood
			// must not become a flood of error lines.
			if k == dw.KindInternal || (k == dw.KindUnavailable && p.Code != "busy") {
				log.Error("request failed", "method", c.Method(), "path", c.Path(), "code", p.Code, "err", err)
			}
		}
		p.Title = statusTitle(p.Status)
		if p.Code != string(dw.KindInternal) && p.Code != "route_not_found" {
			p.Type = "https://divinewhispers.example/problems/" + p.Code
		}
		c.Status(p.Status)
		if d := dw.RetryAfterOf(err); d > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
		}
		c.Set(fiber.HeaderContentType, "application/problem+json")
		if ext := dw.ExtensionsOf(err); len(ext) > 0 {
			body := make(map[string]any, len(ext)+5)
			for k, v := range ext {
				body[k] = v
			}
			body["type"], body["title"], body["status"], body["detail"], body["code"] = p.Type, p.Title, p.Status, p.Detail, p.Code
			return c.JSON(body, "application/problem+json")
		}
		return c.JSON(p, "application/problem+json")
	}
}

func statusTitle(s int) string {
	if t := utils.StatusMessage(s); t != "" {
		return t
	}
	return "Error"
}
