package storage

import (
	"fmt"
	"strings"
)

// A search word matches the index's words it begins ("mart" finds
// "martians"). FTS5 answers a prefix query ("mart"*) by merging the
// postings of every word with that prefix into one list before it returns
// the first match, so its cost grows with the index however few matches
// are read. Looking the words up in the index's vocabulary instead
// (event_search_terms, one step per word found) and asking for them by
// name ("mart" OR "martians") lets FTS5 walk the postings newest first and
// stop when it has enough.

// maxPrefixTerms bounds the index words one search word is expanded to;
// a word that begins more of them (a short prefix) is left to FTS5 as a
// prefix query.
const maxPrefixTerms = 16

// sqlPrefixTerms lists the index's words from ?1 (the search word itself
// included) that begin with it, up to the bound ?2, at most ?3 + 1 of them.
// Each step seeks the next word past the last one found (a word holds no
// control character, so word || char(1) is the least string after all of
// its occurrences): the vocabulary table is read one row per word, not one
// per occurrence.
const sqlPrefixTerms = `WITH RECURSIVE t (term, n) AS (
	SELECT (SELECT term FROM event_search_terms WHERE term >= ?1 AND term < ?2 LIMIT 1), 0
	UNION ALL
	SELECT (SELECT v.term FROM event_search_terms v WHERE v.term >= t.term || char(1) AND v.term < ?2 LIMIT 1), t.n + 1
	FROM t WHERE t.term IS NOT NULL AND t.n < ?3)
SELECT term FROM t WHERE term IS NOT NULL`

// plainWord reports whether the index holds w as it is: ASCII letters and
// digits, lower case, are a word of their own to the unicode61 tokenizer.
// Other words (accents the tokenizer takes off, scripts it splits
// differently) are left to FTS5's own prefix query.
func plainWord(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return w != ""
}

// quoteTerm quotes s as an FTS5 string. SQLite reads the query as a C
// string: a NUL would end it.
func quoteTerm(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// wordTerm returns the FTS5 expression of one search word: the index
// words it begins, by name, or a prefix query when it begins more than
// maxPrefixTerms of them or is not a plain word; "" when the index has no
// word it begins (nothing can match).
func wordTerm(r reader, w string) (string, error) {
	if !plainWord(w) {
		return quoteTerm(w) + "*", nil
	}
	rows, err := r.query(sqlPrefixTerms, w, w+"\U0010FFFF", maxPrefixTerms)
	if err != nil {
		return "", fmt.Errorf("storage: search terms: %w", err)
	}
	defer rows.Close()
	var terms []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return "", fmt.Errorf("storage: search terms: %w", err)
		}
		terms = append(terms, quoteTerm(t))
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("storage: search terms: %w", err)
	}
	switch {
	case len(terms) > maxPrefixTerms:
		return quoteTerm(w) + "*", nil
	case len(terms) == 0:
		return "", nil
	case len(terms) == 1:
		return terms[0], nil
	}
	return "(" + strings.Join(terms, " OR ") + ")", nil
}
