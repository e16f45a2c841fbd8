// Package testsupport is the one place for test harnesses: helpers that start real
// components (redis-server, the project's own commands, Docker images), fake servers that
// speak the wire format of services that cannot run here (NetBox, EventStoreDB, ServiceNow,
// Slack, PagerDuty, SMTP), and the contract suites every adapter of a port runs. Only tests
// import these packages; pipeline/layers_test.go keeps production code from doing so.
package testsupport
