package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
)

func TestRefusedData(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"23505", true},  // unique_violation: the same batch fails again
		{"22021", true},  // character_not_in_repertoire
		{"42P01", true},  // undefined_table
		{"54000", true},  // program_limit_exceeded
		{"57P01", false}, // admin_shutdown: the server is going away (pg_ctl stop -m fast)
		{"57P03", false}, // cannot_connect_now: starting up
		{"08006", false}, // connection_failure
		{"53300", false}, // too_many_connections
		{"40001", false}, // serialization_failure
		{"", false},
	}
	for _, tt := range tests {
		got := refusedData(&pgconn.PgError{Code: tt.code})
		assert.Equal(t, tt.want, got, tt.code)
	}
}
