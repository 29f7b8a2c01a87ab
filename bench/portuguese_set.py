#!/usr/bin/env python3
"""A Portuguese speech set for `linguastream bench --from pt --mt firefox`: twelve meeting-style
sentences spoken by espeak-ng (GPL-3.0, so the audio may be shared), 16 kHz WAVs and a manifest
with the Portuguese text and an English reference.

Usage: bench/portuguese_set.py OUT_DIR   then   linguastream bench OUT_DIR/manifest.tsv --from pt --mt firefox --realtime
"""
import os
import subprocess
import sys

SENTENCES = [
    ("Bom dia a todos, obrigado por participarem da reunião.", "Good morning everyone, thank you for joining the meeting."),
    ("Podem ver a minha tela agora?", "Can you see my screen now?"),
    ("Os números deste trimestre são melhores do que esperávamos.", "This quarter's numbers are better than we expected."),
    ("Precisamos terminar o relatório até sexta-feira.", "We need to finish the report by Friday."),
    ("O cliente pediu mais tempo para analisar a proposta.", "The client asked for more time to review the proposal."),
    ("Eu concordo com o plano, mas o orçamento precisa de outra revisão.", "I agree with the plan, but the budget needs another review."),
    ("Vamos fazer uma pausa de dez minutos.", "Let's take a ten minute break."),
    ("A reunião foi transferida para quinta-feira às três horas.", "The meeting was moved to Thursday at three o'clock."),
    ("Quem pode enviar as notas depois da chamada?", "Who can send the notes after the call?"),
    ("O novo sistema já está funcionando em todos os escritórios.", "The new system is already working in all offices."),
    ("Tenho uma pergunta sobre o prazo do projeto.", "I have a question about the project deadline."),
    ("Muito obrigado, até a próxima semana.", "Thank you very much, see you next week."),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "audio"), exist_ok=True)
    rows = ["id\taudio\tfa_transcript\ten_reference"]
    for n, (portuguese, english) in enumerate(SENTENCES, 1):
        raw = os.path.join(out, "audio", f"pt{n:02}.raw.wav")
        wav = os.path.join(out, "audio", f"pt{n:02}.wav")
        subprocess.run(["espeak-ng", "-v", "pt", "-s", "150", "-w", raw, portuguese], check=True)
        subprocess.run(["sox", raw, "-r", "16000", "-c", "1", wav], check=True)
        os.remove(raw)
        # The transcript column is named for Persian but holds the spoken language's text.
        rows.append(f"pt{n:02}\taudio/pt{n:02}.wav\t{portuguese}\t{english}")
    with open(os.path.join(out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(SENTENCES)} clips and {out}/manifest.tsv")


if __name__ == "__main__":
    main()
