package persistence

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf8"
)

// copyBuf builds the data of a COPY … FROM STDIN (FORMAT binary) by hand: for the hundreds of
// thousands of usage records a second that ingest stores, pgx's generic encoder (a value
// boxed in an interface, a type switch and a lookup per field) costs more than PostgreSQL's
// insert itself. Only the types usage_records needs are here.
type copyBuf struct{ b []byte }

// pgEpoch is PostgreSQL's timestamp epoch, 2000-01-01 UTC, in Unix microseconds.
const pgEpoch = 946_684_800_000_000

func newCopyBuf(rows, rowBytes int) *copyBuf {
	c := &copyBuf{b: make([]byte, 0, 19+rows*rowBytes+2)}
	c.b = append(c.b, "PGCOPY\n\xff\r\n\x00"...)
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // flags
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // header extension length
	return c
}

func (c *copyBuf) row(fields int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyBuf) null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xFFFFFFFF) }

// validText replaces what PostgreSQL refuses in text — invalid UTF-8 and NUL bytes — by U+FFFD:
// a strange byte in a log line is never a reason to lose a job.
func validText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// text writes s (see validText).
func (c *copyBuf) text(s string) {
	s = validText(s)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *copyBuf) int4(v int) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(int32(v)))
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) boolean(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// timestamptz writes t, or NULL for the zero time.
func (c *copyBuf) timestamptz(t time.Time) {
	if t.IsZero() {
		c.null()
		return
	}
	c.int8(t.UnixMicro() - pgEpoch)
}

// uuid writes a 16-byte id, or NULL for nil.
func (c *copyBuf) uuid(id *[16]byte) {
	if id == nil {
		c.null()
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, 16)
	c.b = append(c.b, id[:]...)
}

// bytes ends the data and returns it.
func (c *copyBuf) bytes() []byte {
	return binary.BigEndian.AppendUint16(c.b, 0xFFFF)
}

func (c *copyBuf) bytea(b []byte) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(b)))
	c.b = append(c.b, b...)
}
