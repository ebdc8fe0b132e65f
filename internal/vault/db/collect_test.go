package db

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCollect(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	scanInt := func(sc Scanner) (int, error) {
		var n int
		err := sc.Scan(&n)
		return n, err
	}
	rows, err := d.Query(ctx, `SELECT 2 UNION ALL SELECT 1 UNION ALL SELECT 3`)
	got, err := Collect(rows, err, scanInt)
	if err != nil || !reflect.DeepEqual(got, []int{2, 1, 3}) {
		t.Fatalf("Collect = %v, %v", got, err)
	}
	rows, err = d.Query(ctx, `SELECT 1 WHERE 1 = 0`)
	if got, err := Collect(rows, err, scanInt); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("no rows: %#v, %v", got, err)
	}
	queryErr := errors.New("the query failed")
	if got, err := Collect(nil, queryErr, scanInt); err != queryErr || got != nil {
		t.Fatalf("query error: %v, %v", got, err)
	}
	bad := errors.New("row 2 is bad")
	rows, err = d.Query(ctx, `SELECT 1 UNION ALL SELECT 2`)
	got, err = Collect(rows, err, func(sc Scanner) (int, error) {
		n, err := scanInt(sc)
		if n == 2 {
			return 0, bad
		}
		return n, err
	})
	if err != bad || got != nil {
		t.Fatalf("scan error: %v, %v", got, err)
	}
}
