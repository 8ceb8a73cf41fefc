"""Quiz content for notebooks 05-09: edge, load testing, resilience, rollout, capstone (data only)."""

from __future__ import annotations

from lesson.teaching.quizzes.model import Quiz
from lesson.teaching.quizzes.serving import ask, right, wrong

EDGE = Quiz(
    "05-edge",
    "Check yourself: the edge",
    (
        ask(
            "int8-vs-rounding",
            "What makes the int8 model smaller than the float one?",
            (
                right(
                    "Its weights are stored as 8-bit integers with one float scale per tensor",
                    "One byte per weight instead of eight (the biases stay float); inference multiplies each "
                    "integer weight by a float input and rescales the sum.",
                ),
                wrong(
                    "Its inputs are rounded to 3 decimals before prediction",
                    "That is input rounding (`round_rows`): it changes what the model sees, not the "
                    "model's size. Quantisation is about the weights.",
                ),
                wrong(
                    "It has fewer layers",
                    "It is the same network, layer for layer; only the weights' storage changed.",
                ),
            ),
        ),
        ask(
            "int8-speed",
            "This notebook's int8 scheme is weight-only: activations stay float. Where "
            "can such a scheme pay on real hardware?",
            (
                right(
                    "Moving and caching fewer bytes of weights, where memory bandwidth is the limit",
                    "Fewer bytes fit the caches and cross the bus faster; the page prints how many fewer "
                    "(less than 8x here: the biases stay float). Integer dot products and integer SIMD "
                    "need int8 activations too, which this scheme does not have.",
                ),
                wrong(
                    "In int8 dot-product (integer SIMD) instructions",
                    "Those multiply int8 by int8. With float activations each weight is multiplied as a "
                    "float; a scheme that also quantises the activations can use them.",
                ),
                wrong(
                    "In pure Python, where integer arithmetic is much cheaper",
                    "Python's per-operation overhead dwarfs the width of a number; compare the "
                    "measured ratio in the table above.",
                ),
                wrong(
                    "It makes each prediction more accurate",
                    "Rounding the weights perturbs the model: held-out error can move a little either "
                    "way (compare the page's two MAEs), but quantisation is a way to save bytes, never "
                    "to gain accuracy. Measure the change on your own data.",
                ),
            ),
        ),
        ask(
            "calibration-set",
            "ONNX Runtime's static int8 quantisation needs a calibration set; dynamic "
            "quantisation does not. Why?",
            (
                right(
                    "Static fixes each activation's int8 scale in the file, from the ranges the "
                    "calibration rows produce",
                    "Weights are known when you export, activations only when data flows: static "
                    "runs representative rows (here the training rows, never the held-out ones) to "
                    "record each activation's range ahead of time. Dynamic measures the range on "
                    "every call instead, which costs extra nodes per call.",
                ),
                wrong(
                    "The calibration set retrains the weights so they fit in int8",
                    "No weight is retrained: quantisation maps the trained weights to int8. "
                    "Calibration only records the activations' ranges.",
                ),
                wrong(
                    "It is the held-out set, used to check the accuracy after quantising",
                    "Validating accuracy is a separate step, on held-out rows the calibration never "
                    "saw; calibrating on them would leak the test set into the model.",
                ),
                wrong(
                    "Static quantisation quantises the weights per row of data",
                    "The weights' scales come from the weights themselves; the data sets the "
                    "activations' scales.",
                ),
            ),
        ),
        ask(
            "pickle-code",
            "Why does the lesson ship its model as JSON plus a checksummed manifest, "
            "never as a pickle?",
            (
                right(
                    "Loading a pickle can call any function the file names: it is a program",
                    "Whoever wrote the file chooses what runs in your server at load time.",
                ),
                wrong(
                    "Pickle files are too slow to load",
                    "Speed is not the issue; a pickle can execute arbitrary code when loaded.",
                ),
                wrong(
                    "Pickle cannot store floating-point weights",
                    "It stores them fine; that is why it is popular, and why it is dangerous.",
                ),
            ),
        ),
        ask(
            "units-skew",
            "A client sends cholesterol in mmol/L instead of the mg/dL the model was "
            "trained on, to a server that validates types and shapes only. What happens?",
            (
                right(
                    "Plausible-looking wrong predictions, with no error",
                    "Ten numbers of the right type pass any schema. Named features and training-range "
                    "checks at the boundary make the mistake loud.",
                ),
                wrong(
                    "The service refuses the request with a validation error",
                    "Not with types and shapes alone: they say nothing about units. A check against the "
                    "training ranges, like this notebook's, can refuse values far outside them; a shift "
                    "that stays inside the ranges still passes.",
                ),
                wrong(
                    "Nothing: the model's scaler normalises any unit",
                    "The scaler assumes the training units; cholesterol in mmol/L is off by a factor of 38.67.",
                ),
            ),
        ),
    ),
)

LOAD_TESTING = Quiz(
    "06-load-testing",
    "Check yourself: load testing, honestly",
    (
        ask(
            "closed-loop-stall",
            "The server stalls for 200 ms once. A closed-loop test with one "
            "worker reports one slow request. Why only one?",
            (
                right(
                    "The test stopped sending during the stall, so only the request in flight waited",
                    "That is coordinated omission: the load generator waits with the server. Real users "
                    "keep arriving; an open loop counts each one that had to wait.",
                ),
                wrong(
                    "Because only one request really was slow",
                    "Every user who arrived during those 200 ms would have waited; the test never sent them.",
                ),
                wrong(
                    "Because the stall was shorter than the client's timeout",
                    "The timeout does not matter here; what matters is that no request was sent.",
                ),
            ),
        ),
        ask(
            "open-loop-from",
            "In an open-loop test, from when is each request's latency measured?",
            (
                right(
                    "Its intended send time on the schedule",
                    "Then a generator that falls behind still charges the delay to the request (and "
                    "reports the late sends).",
                ),
                wrong(
                    "The moment it was actually sent",
                    "If the generator falls behind, that hides the waiting again: coordinated omission "
                    "through the back door.",
                ),
                wrong(
                    "The moment the server received it",
                    "That is the server's view; it leaves out the queueing and network the user sees.",
                ),
            ),
        ),
        ask(
            "average-p99",
            "Run A (1,000 requests) had p99 = 10 ms, run B (1,000 requests) p99 = 30 ms. "
            "What is the p99 of all 2,000?",
            (
                right(
                    "It cannot be computed from the two p99s: pool the raw samples or merge histograms",
                    "A percentile is a rank in one distribution; the two tails may overlap in any way.",
                ),
                wrong(
                    "20 ms, their average",
                    "Averaging percentiles has no meaning; it may be far from the pooled value.",
                ),
                wrong(
                    "30 ms, the larger",
                    "The pooled p99 depends on both tails; it need not equal either p99.",
                ),
            ),
        ),
        ask(
            "knee",
            "Requests arrive at random (Poisson) at a single server, and the arrival rate rises "
            "from 50 % to 95 % of its capacity. What does latency do?",
            (
                right(
                    "It grows about tenfold, yet stays finite: below capacity the queue is stable",
                    "In the M/M/1 queueing model the time in the system is proportional to "
                    "1 / (1 − utilisation): (1 / 0.05) / (1 / 0.5) = 10, for the mean and the p99 alike. "
                    "Only past 100 % does the queue grow without bound. Keep the busiest minute well "
                    "left of the knee.",
                ),
                wrong(
                    "It roughly doubles, in proportion to the load",
                    "Queueing delay is not linear in load: it grows like 1 / (1 − utilisation).",
                ),
                wrong(
                    "The queue grows without bound",
                    "Not below capacity: at 95 % the server still catches up, with long queues at times. "
                    "Unbounded growth starts only when arrivals exceed capacity.",
                ),
                wrong(
                    "Nothing changes until 100 %",
                    "Random arrivals queue well before full utilisation.",
                ),
            ),
        ),
        ask(
            "autoscale-signal",
            "Why do many serving platforms offer autoscaling on queue depth or "
            "requests in flight, not only on CPU?",
            (
                right(
                    "CPU stops at 100 %, so 10 % and 100 % over capacity look alike; an uncapped queue keeps counting",
                    "The backlog says how far over capacity you are, which is what a scale-out decision needs, "
                    "if it is counted before any cap: the lesson's servers count only admitted requests, so "
                    "their gauge stops at `max_in_flight` (notebook 07) and the excess shows as refusals.",
                ),
                wrong("CPU cannot be measured inside a container", "It can; it just saturates."),
                wrong(
                    "In-flight requests are cheaper to count",
                    "Both are cheap; the point is which one still moves at saturation.",
                ),
            ),
        ),
    ),
)

RESILIENCE = Quiz(
    "07-resilience",
    "Check yourself: timeouts, retries, load shedding, observing",
    (
        ask(
            "idempotent-retry",
            "A client times out waiting for a request that writes a result, and "
            "retries. When is that safe?",
            (
                right(
                    "When the operation is idempotent, e.g. the request carries a key the server deduplicates",
                    "A timeout means *unknown*, not *failed*: the first attempt may have completed.",
                ),
                wrong(
                    "Always: the first attempt timed out, so it did not happen",
                    "The server may have finished it after the client gave up; a blind retry does it twice.",
                ),
                wrong(
                    "Never: retries only add load",
                    "Bounded retries with backoff fix transient failures, when repeating is harmless.",
                ),
            ),
        ),
        ask(
            "retry-storm",
            "Every client retries at once, five times, whenever the server is overloaded. "
            "What does that do?",
            (
                right(
                    "It multiplies the load on a server that is already overloaded",
                    "Use exponential backoff with jitter and a retry budget, and do not retry an explicit "
                    "overload signal at once.",
                ),
                wrong(
                    "It raises the success rate, since some retry will get through",
                    "Each retry competes with new requests; the overload lasts longer.",
                ),
                wrong(
                    "Nothing: retries only reach idle servers",
                    "Without a balancer that knows, retries land on the same overloaded servers.",
                ),
            ),
        ),
        ask(
            "deadline",
            "The caller's deadline is 100 ms and it has passed. What should the server do "
            "with that request?",
            (
                right(
                    "Stop working on it: nobody is waiting for the answer",
                    "Propagate deadlines (gRPC does) so a server drops work its caller has abandoned.",
                ),
                wrong(
                    "Finish it anyway, in case the caller retries",
                    "The retry is a new request; finishing the old one steals capacity from live ones.",
                ),
                wrong(
                    "Queue it for later", "A late answer to a caller that has gone is wasted work."
                ),
            ),
        ),
        ask(
            "bound-binds",
            "A server sheds load above 64 queued requests. A closed-loop client with "
            "concurrency 32 drives it. What does the bound do?",
            (
                right(
                    "Nothing: at most 32 requests are ever in flight, so it never binds",
                    "The queue sits in the load generator instead; drive more in flight than the bound "
                    "(or use an open loop) to see shedding.",
                ),
                wrong(
                    "It rejects the 33rd request",
                    "There is no 33rd request in flight in a closed loop of 32.",
                ),
                wrong("It halves the throughput", "A bound that is never reached changes nothing."),
            ),
        ),
        ask(
            "p99-across-replicas",
            "Three replicas each report a p99 from their own latency histogram. How do you get "
            "the service's p99?",
            (
                right(
                    "Sum the replicas' bucket counts, then estimate once: "
                    "histogram_quantile(0.99, sum by (le) (rate(...)))",
                    "Buckets are counts, and counts add up; percentiles do not. The result is still an "
                    "estimate: Prometheus knows only how many requests fell in each bucket and "
                    "interpolates inside the one the 99th percentile lands in, so it is exact only to "
                    "within that bucket (the Prometheus section above sets it beside the exact value).",
                ),
                wrong(
                    "Average the three p99s",
                    "A busy, slow replica and two idle, fast ones average to a figure no request saw: "
                    "the mean of percentiles is not a percentile of anything.",
                ),
                wrong(
                    "Take the largest of the three",
                    "An upper bound at best: if the slow replica serves 1 % of the traffic, its p99 is "
                    "far above the service's.",
                ),
            ),
        ),
    ),
)

ROLLOUT = Quiz(
    "08-rollout",
    "Check yourself: versions, canary, shadow",
    (
        ask(
            "compatible-change",
            "Which contract change keeps every existing client working?",
            (
                right(
                    "Adding an optional field",
                    "Old requests are still valid; new clients may send the field.",
                ),
                wrong(
                    "Making an optional field required",
                    "Every old client that omits it now gets a 422.",
                ),
                wrong(
                    "Renaming a field",
                    "Old clients send the old name: missing on one side, unknown on the other.",
                ),
            ),
        ),
        ask(
            "shadow",
            "In a shadow deployment, which answer does the user receive?",
            (
                right(
                    "The current version's; the new one gets a copy and its answer is only compared",
                    "Shadowing tests on real traffic at no risk to users, as long as the shadow has no side effects.",
                ),
                wrong("The new version's", "That is a rollout (or canary), not a shadow."),
                wrong(
                    "Whichever answers first",
                    "Racing versions would give users an unpredictable mix.",
                ),
            ),
        ),
        ask(
            "canary",
            "A canary sends 5 % of traffic to v2. After the agreed minimum number of "
            "requests, v2's p99 exceeds v1's by more than the agreed margin. What should happen?",
            (
                right(
                    "Roll back: the evidence met the bar set before the canary started",
                    "A guard needs both, fixed in advance: a margin (notebook 08's exercise calls it "
                    "`max_slowdown`) and a minimum sample (`min_requests`). The canary limits the blast "
                    "radius to 5 % while the evidence comes in.",
                ),
                wrong(
                    "Roll back as soon as v2's p99 is above v1's, even after ten requests",
                    "The p99 of ten requests is their maximum: one slow request decides. Without a "
                    "margin and a minimum sample, noise rolls back good versions.",
                ),
                wrong(
                    "Raise v2 to 50 % to collect more data faster",
                    "That exposes more users to a known regression.",
                ),
                wrong("Nothing: 5 % is too little traffic to matter", "Those 5 % are real users."),
            ),
        ),
        ask(
            "pinning",
            "v2 is registered as the default. A client that names no version and one that "
            "pins v1 send the same request. What changes?",
            (
                right(
                    "The unpinned client's answer moves to v2 without asking; the pinned one keeps v1",
                    "Pin versions where an answer must not change under a client.",
                ),
                wrong(
                    "Both move to v2", "A pinned route keeps its version until the client moves."
                ),
                wrong(
                    "Neither: the default only applies to new clients",
                    "The default applies to every request that names no version.",
                ),
            ),
        ),
        ask(
            "pickle-opcodes",
            "A partner's `model.pkl` only mentions numpy functions when you read its "
            "opcodes. Is it safe to load?",
            (
                right(
                    "No: do not unpickle files you did not produce; ask for a data-only format",
                    "Allow-lists of 'safe' callables are easy to get wrong; JSON or safetensors plus a "
                    "pinned checksum carry data, never code.",
                ),
                wrong(
                    "Yes: numpy functions are harmless",
                    "Some numpy entry points can load further pickles or files.",
                ),
                wrong(
                    "Yes, if the file's checksum matches",
                    "A checksum proves the file is the one sent, not that it is safe.",
                ),
            ),
        ),
    ),
)

CAPSTONE = Quiz(
    "09-capstone",
    "Check yourself: meeting an SLO",
    (
        ask(
            "slo-test",
            "The SLO is p99 <= 50 ms at 400 requests per second. Which run verifies it?",
            (
                right(
                    "An open-loop run at 400 req/s, long enough for thousands of samples, with no errors",
                    "Open loop measures what users see at that rate; errors and short runs can make any "
                    "latency look good.",
                ),
                wrong(
                    "A closed-loop run whose concurrency happens to give 400 req/s",
                    "A closed loop slows down with the server and hides stalls (coordinated omission).",
                ),
                wrong(
                    "The average of the p99s of one-minute windows",
                    "Percentiles cannot be averaged; pool the samples.",
                ),
            ),
        ),
        ask(
            "short-run",
            "Why is a run of 100 requests too short to check a p99?",
            (
                right(
                    "Its p99 is decided by one or two requests",
                    "Nearest-rank p99 of 100 samples is the "
                    "second slowest; one unlucky request moves it.",
                ),
                wrong(
                    "The server is still warming up",
                    "Warm-up matters too, but even a warm run of 100 gives a p99 of one sample.",
                ),
                wrong(
                    "It is not: p99 needs only 99 samples",
                    "With 99 samples the p99 is simply the maximum.",
                ),
            ),
        ),
        ask(
            "errors-pass",
            "A run meets the p99 target, but 2 % of requests were rejected with 503. "
            "Does it pass the load-test gate?",
            (
                right(
                    "No: rejected requests are failures, and fast rejections flatter the latency",
                    "The gate (like the SLO it stands in for) is about the requests users sent: "
                    "the capstone counts only successful requests towards the rate, and "
                    "shedding 2 % to stay fast is a different objective.",
                ),
                wrong(
                    "Yes: only latency was specified",
                    "Errors are part of every serving objective, stated or not.",
                ),
                wrong("Yes, if the 503s were fast", "Fast failures are still failures."),
            ),
        ),
        ask(
            "workers-cores",
            "Within a ceiling of 2 cores, you run 8 CPU-bound server workers. What "
            "should you expect?",
            (
                right(
                    "No more throughput than about 2 workers give, and worse tail latency from contention",
                    "CPU-bound workers beyond the cores only take turns; measure the knee.",
                ),
                wrong(
                    "4x the throughput of 2 workers",
                    "Workers share the cores; they do not add CPU.",
                ),
                wrong(
                    "Lower latency, because more requests run at once",
                    "They run at once only in name; each gets a slice.",
                ),
            ),
        ),
        ask(
            "upscale-delay",
            "An online service autoscales on requests in flight, with a 30 s upscale delay. "
            "Traffic doubles in one second. What do users see in the next 30 s or so?",
            (
                right(
                    "Queueing: p99 climbs until the new replicas have been added AND have started",
                    "The autoscaler waits out the delay (so a burst does not make it thrash), then "
                    "each new replica pays its cold start. Meanwhile the requests arrive anyway and "
                    "wait. The Scaling page and notebook 07 show it measured on Ray Serve.",
                ),
                wrong(
                    "Nothing: the autoscaler adds replicas as soon as the load rises",
                    "It acts on an average over a look-back window, after the upscale delay, and "
                    "a new replica must still start before it serves.",
                ),
                wrong(
                    "Errors for every request until the new replicas are up",
                    "Only if the queue in front of the replicas is bounded and fills; unbounded, "
                    "the delay shows as waiting (p99), not as refusals.",
                ),
            ),
        ),
    ),
)

QUIZZES = (EDGE, LOAD_TESTING, RESILIENCE, ROLLOUT, CAPSTONE)
