"""Datasets: the rendered offline demo, AudioSetZSL's official split lists, a user's own
manifest, and the YouTube downloader. Import the submodule you need (`avgzsl.datasets.demo`,
`.audiosetzsl`, `.custom`, `.download`); nothing heavy is imported here.
"""
