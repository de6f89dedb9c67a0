package persistence

import (
	"testing"

	"github.com/divinewhispers/dw/job"
)

// TestListJobsSearch: the history finds jobs by words of the question or context (without
// case), by topic, and only the caller's.
func TestListJobsSearch(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	other, err := s.CreateUser(ctx, "other-search@example.com", "not-a-hash", "user", AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(owner User, key, question, context, topic string) string {
		t.Helper()
		j := newJob(owner, key)
		j.Params = job.Params{Set: "liushi-jiazi", Number: 7, Question: question, Context: context, Topic: topic}
		j.RequestHash = j.Params.Hash()
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	career := add(u, "a", "下個月該不該換工作？", "", "career")
	move := add(u, "b", "Should I move to Taipei?", "My Job offer is there", "travel")
	add(u, "c", "家人健康如何", "", "health")
	add(other, "d", "換工作好嗎", "", "career")

	for _, tc := range []struct {
		name string
		f    JobFilter
		want []string
	}{
		{"chinese words", JobFilter{Query: "換工作"}, []string{career}},
		{"context, any case", JobFilter{Query: "job OFFER"}, []string{move}},
		{"topic", JobFilter{Topic: "travel"}, []string{move}},
		{"topic and words", JobFilter{Topic: "career", Query: "taipei"}, nil},
		{"percent is a character", JobFilter{Query: "%"}, nil},
	} {
		f := tc.f
		f.UserID = u.ID
		f.Page.Limit = 10
		got, _, err := s.ListJobs(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, j := range got {
			ids = append(ids, j.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) {
			t.Errorf("%s: got %v, want %v", tc.name, ids, tc.want)
		}
	}
}
