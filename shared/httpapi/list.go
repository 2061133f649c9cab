package httpapi

import (
	"net/http"
	"strconv"
)

// Page is what a paginated GET asked for: ?limit= (1–100, default 20) and
// the opaque ?cursor= a previous page answered.
type Page struct {
	Limit  int
	Cursor string
}

// ParsePage reads ?limit= and ?cursor=; a bad limit is 400 invalid_query.
func ParsePage(r *http.Request) (Page, error) {
	p := Page{Limit: 20, Cursor: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return Page{}, NewError(http.StatusBadRequest, "invalid_query", "limit must be an integer from 1 to 100")
		}
		p.Limit = n
	}
	return p, nil
}

// list is a page as answered: the items and the cursor of the next page.
type list[J any] struct {
	Items      []J    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// WriteList answers 200 with items converted by toJSON and the cursor to
// the next page (none on the last).
func WriteList[T, J any](w http.ResponseWriter, items []T, next string, toJSON func(T) J) {
	out := list[J]{Items: make([]J, 0, len(items)), NextCursor: next}
	for _, it := range items {
		out.Items = append(out.Items, toJSON(it))
	}
	WriteJSON(w, http.StatusOK, out)
}
