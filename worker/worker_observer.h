// A hook through which the worker reports what its metrics count (worker/metrics.h), so that the
// coordinator client and the rollout engine stay free of any metrics dependency.
#ifndef GDAQD_WORKER_WORKER_OBSERVER_H_
#define GDAQD_WORKER_WORKER_OBSERVER_H_

#include "worker/sim/rollout_engine.h"

namespace gdaqd::worker {

// Episode events (EpisodeObserver, from the rollout threads) plus the connection's. Must be
// thread-safe; calls must return quickly.
class WorkerObserver : public EpisodeObserver {
 public:
  // The stream to the coordinator got its hello through (true), or that stream ended (false).
  virtual void OnConnected(bool connected) = 0;
  // The client is about to dial again after a stream failed or could not be opened.
  virtual void OnReconnect() = 0;
};

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_WORKER_OBSERVER_H_
