package fares

import (
	"container/heap"
	"fmt"
)

// distances is the all-pairs shortest-path matrix of the metro track graph in
// metres, row-major over feed.stations.
type distances struct {
	n int
	d []int64
}

func (m distances) at(from, to int) int64 { return m.d[from*m.n+to] }

// shortestPaths runs Dijkstra from every station over the undirected track
// graph (interchanges cost nothing: a station is one node whatever its
// platforms). Every station must reach every other.
func shortestPaths(stations []string, edges map[[2]int]int64) (distances, error) {
	n := len(stations)
	adj := make([][]arc, n)
	for k, w := range edges {
		adj[k[0]] = append(adj[k[0]], arc{to: k[1], w: w})
		adj[k[1]] = append(adj[k[1]], arc{to: k[0], w: w})
	}
	m := distances{n: n, d: make([]int64, n*n)}
	for src := range n {
		row := m.d[src*n : (src+1)*n]
		for i := range row {
			row[i] = -1
		}
		q := &pq{{node: src}}
		for q.Len() > 0 {
			it := heap.Pop(q).(item)
			if row[it.node] >= 0 {
				continue
			}
			row[it.node] = it.dist
			for _, a := range adj[it.node] {
				if row[a.to] < 0 {
					heap.Push(q, item{node: a.to, dist: it.dist + a.w})
				}
			}
		}
		for dst, d := range row {
			if d < 0 {
				return distances{}, fmt.Errorf("%w: the metro network is not connected: no track from %q to %q", ErrBadData, stations[src], stations[dst])
			}
		}
	}
	return m, nil
}

type arc struct {
	to int
	w  int64
}

type item struct {
	node int
	dist int64
}

// pq is a min-heap of items by distance.
type pq []item

func (q pq) Len() int           { return len(q) }
func (q pq) Less(i, j int) bool { return q[i].dist < q[j].dist }
func (q pq) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pq) Push(x any)        { *q = append(*q, x.(item)) }
func (q *pq) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
