// Package interpret turns a drawn fortune poem (籤詩) and a person's own question into a
// personal interpretation: a summary, guidance on the sides of their situation, advice,
// cautions, and the poem lines the reading rests on.
//
// Two Interpreters share one Request and Result:
//
//   - [Builtin] composes a reading from the poem's own data — its level, two of its lines read
//     by their place in the quatrain (起承轉合), the traditional meanings for the topic and
//     overall, its story — addressed to the question, in Traditional Chinese or English. It is
//     deterministic and takes microseconds, so it serves benchmarks and runs without a model.
//   - [LLM] asks a language model over the OpenAI-compatible chat-completions API (OpenAI,
//     Ollama, vLLM, llama.cpp's server), streams its answer to a [Progress] callback, and
//     accepts it only when it parses as a JSON reading that [Result.Validate] passes.
//
// Each Interpret call makes one attempt; the job runner owns retries. Every error is an [*Error]
// with a stable Code, classified by errors.Is as [ErrRetryable] (rate limits, timeouts, 5xx,
// cut streams, bad model output) or [ErrPermanent] (invalid requests, requests the server
// rejects), with RetryAfter set from a 429's Retry-After. An *Error also reads as a *dw.Error,
// so dw.KindOf and dw.MessageOf place it in the project's taxonomy. The API key never appears
// in an error.
//
// Package llmtest provides a misbehaving fake chat-completions server for tests.
package interpret
