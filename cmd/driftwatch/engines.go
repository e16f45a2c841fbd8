package main

import (
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/pipeline/bus"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/bus/redisbus"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/esdb"
	"github.com/driftwatch/driftwatch/pipeline/router"
)

// openStore opens EventStoreDB when configured, else the embedded store in the data dir.
func openStore(c config, log *zap.Logger) (eventstore.Store, error) {
	if c.EventStoreURL != "" {
		log.Info("Using EventStoreDB")
		return esdb.Open(esdb.Config{URL: c.EventStoreURL})
	}
	dir := filepath.Join(c.DataDir, "events")
	log.Info("Using the embedded event store", zap.String("dir", dir))
	return bolt.Open(bolt.Config{Dir: dir})
}

// openBus opens Redis Streams when configured, else the embedded bus in the data dir.
func openBus(c config, role string, log *zap.Logger) (bus.Bus, error) {
	if c.RedisURL == "" {
		path := filepath.Join(c.DataDir, "bus.db")
		log.Info("Using the embedded bus", zap.String("path", path))
		return embedded.Open(embedded.Config{Path: path})
	}
	consumer := c.Consumer
	if consumer == "" {
		var err error
		if consumer, err = redisbus.DefaultConsumer(role); err != nil {
			return nil, fmt.Errorf("name the redis consumer: %w", err)
		}
	}
	log.Info("Using Redis Streams", zap.String("consumer", consumer))
	return redisbus.New(redisbus.Config{URL: c.RedisURL, Consumer: consumer, Logger: router.NewLogger(log)})
}

// newLogger builds the process's zap logger at the configured level.
func newLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	lvl, err := zap.ParseAtomicLevel(level)
	if err != nil {
		return nil, err
	}
	cfg.Level = lvl
	cfg.Sampling = nil
	return cfg.Build()
}
