#!/usr/bin/env python3
"""Which of faster-whisper's decoding settings buy its accuracy: the same Whisper base file, each
setting over a whole manifest, CER/WER by bench/textmetrics.py. Run with the venv bench/compare.sh
makes, from the project root:

    ~/.local/share/linguastream/bench-venv/bin/python bench/experiments/faster_whisper_settings.py MANIFEST [SETTING...]
"""
import csv, sys, time, os
sys.path.insert(0, 'bench')
from textmetrics import error_rates
from faster_whisper import WhisperModel
man = sys.argv[1]
base = os.path.dirname(man)
rows = list(csv.DictReader(open(man), delimiter='\t'))
model = WhisperModel(os.path.expanduser('~/.local/share/linguastream/models/whisper-base'), device='cpu', compute_type='int8', cpu_threads=2)
configs = {
 'default': {},
 'greedy': dict(beam_size=1),
 'greedy_notemp': dict(beam_size=1, temperature=0.0),
 'greedy_nots': dict(beam_size=1, temperature=0.0, without_timestamps=True),
 'beam5_notemp': dict(temperature=0.0),
}
which = sys.argv[2:] or list(configs)
for name in which:
    t=time.monotonic(); hyps=[]; refs=[]
    for r in rows:
        segs,_ = model.transcribe(os.path.join(base, r['audio']), language='fa', **configs[name])
        hyps.append(' '.join(s.text.strip() for s in segs)); refs.append(r['fa_transcript'])
    el=time.monotonic()-t
    print(name, 'time %.1f'%el, error_rates(list(zip(refs, hyps))), flush=True)
