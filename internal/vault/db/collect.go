package db

import "database/sql"

// Scanner is a row to scan: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Collect scans every row of a query with scan, in order, and closes rows. It takes the query's
// error as well so that a List reads as one statement: Collect(d.Query(...)) does not fit, but
// rows, err := d.Query(...); return Collect(rows, err, scan) does. No rows is an empty slice (JSON
// []), not nil; the first error of the query, a scan or the iteration is returned with no rows.
func Collect[T any](rows *sql.Rows, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
