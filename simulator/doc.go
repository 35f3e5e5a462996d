// Package simulator is the server side of the Acqueon Performance Metrics
// feed: a websocket server that authenticates, sends the connection event,
// reads the initialization request and pushes metric messages, and a
// contact-center model (campaign groups, campaigns, queues and agents) that
// produces those messages. It is used by tests and by --demo; the exporter
// needs none of it at run time.
package simulator
